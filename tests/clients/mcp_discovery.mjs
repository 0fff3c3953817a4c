// What the MCP TypeScript SDK reads from audgate, with the SDK's own functions:
// an MCP request without a token (`initialize`, as a client's first), the 401's
// WWW-Authenticate parameters, the protected resource metadata it names
// (validated by the SDK's schema), and the RFC 8707 `resource` the SDK would
// ask the authorization server for (checked against the server URL's origin).
// Prints one JSON object; run by tests/e2e/clients.rs.
import {
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
  selectResourceURL,
} from "@modelcontextprotocol/sdk/client/auth.js";

const [serverUrl] = process.argv.slice(2);
const response = await fetch(serverUrl, {
  method: "POST",
  headers: {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  },
  body: JSON.stringify({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "audgate-test", version: "0" },
    },
  }),
});
const params = extractWWWAuthenticateParams(response);
const metadata = await discoverOAuthProtectedResourceMetadata(serverUrl, {
  resourceMetadataUrl: params.resourceMetadataUrl,
});
const resource = await selectResourceURL(serverUrl, {}, metadata);
console.log(
  JSON.stringify({
    status: response.status,
    resource_metadata: params.resourceMetadataUrl?.href ?? null,
    metadata,
    resource: resource?.href ?? null,
  }),
);
