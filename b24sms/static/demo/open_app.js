// The Bitrix24 stand-in opening the app (templates/demo_portal.html): posts the iframe form at once, as a portal
// does when it opens an app. The form's button does the same where scripts are off.
(function () {
  "use strict";
  var form = document.getElementById("open-app");
  if (form) form.submit();
})();
