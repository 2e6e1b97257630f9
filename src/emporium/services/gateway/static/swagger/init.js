// Starts Swagger UI on the merged document; a file, not an inline script,
// because the gateway's CSP allows scripts from 'self' only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
