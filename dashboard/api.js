// The orchestrator's HTTP API, same origin. Answers are JSON; errors have the shape
// {"error":{"code","message","details"?}}.

/** The orchestrator answered with an error. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The orchestrator could not be reached (network failure, timeout, a proxy's 5xx page). */
export class Unreachable extends Error {}

const TIMEOUT_MS = 8000;

/** `token()` is read on every call, so signing in or out takes effect at once. */
export function createApi(token) {
  async function request(method, path, body, tokenOverride) {
    const headers = { Accept: "application/json" };
    const bearer = tokenOverride ?? token();
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw new Unreachable(err && err.name === "TimeoutError"
        ? `no answer within ${TIMEOUT_MS / 1000} s`
        : "the network request failed");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (response.ok && data !== null) return data;
    const error = data && typeof data.error === "object" ? data.error : null;
    if (!error) {
      if (response.status >= 500) throw new Unreachable(`it answered ${response.status}`);
      throw new ApiError(response.status, "unexpected", `unexpected answer (${response.status})`);
    }
    throw new ApiError(response.status, String(error.code), String(error.message));
  }

  return {
    get: (path, tokenOverride) => request("GET", path, undefined, tokenOverride),
    patch: (path, body) => request("PATCH", path, body),
  };
}

/** `?a=1&b=2` from the entries whose value is set. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
