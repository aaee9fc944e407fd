__version__ = "0.9.0"  # the User-Agent of our outgoing calls names it
