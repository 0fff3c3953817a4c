// What oauth4webapi reads from audgate's step-up refusal (RFC 9470): a request
// with `token` through the library's own protectedResourceRequest, whose 401 it
// turns into a WWWAuthenticateChallengeError with the parsed challenges.
// Prints one JSON object; run by tests/e2e/clients.rs.
import * as oauth from "oauth4webapi";

const [url, token] = process.argv.slice(2);
try {
  const response = await oauth.protectedResourceRequest(token, "GET", new URL(url));
  console.log(JSON.stringify({ status: response.status, challenges: [] }));
} catch (error) {
  if (!(error instanceof oauth.WWWAuthenticateChallengeError)) {
    throw error;
  }
  console.log(JSON.stringify({ status: error.status, challenges: error.cause }));
}
