// The API documentation page: Swagger UI from the vendored swagger-ui-dist, no inline script
// (the Content-Security-Policy allows only 'self').
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
