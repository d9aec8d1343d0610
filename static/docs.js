// Starts the vendored Swagger UI on /openapi.json (a file, not an inline script: the CSP forbids those).
"use strict";
const el = document.getElementById("swagger-ui");
window.ui = SwaggerUIBundle({url: el.dataset.openapi, dom_id: "#swagger-ui", deepLinking: true});
