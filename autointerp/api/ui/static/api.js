// The JSON API with the key from sessionStorage: one-line errors, and server-sent events read from a
// fetch stream (EventSource cannot send the Authorization header).

const KEY = "autointerp.key";

export const auth = {
  get: () => sessionStorage.getItem(KEY),
  set: (key) => sessionStorage.setItem(KEY, key),
  clear: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function headers(json) {
  const out = { Authorization: `Bearer ${auth.get() || ""}` };
  if (json) out["Content-Type"] = "application/json";
  return out;
}

async function failure(response) {
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.detail !== undefined) detail = String(body.detail);
  } catch (_) {
    /* not JSON: keep the status line */
  }
  if (response.status === 401) {
    auth.clear();
    window.dispatchEvent(new CustomEvent("autointerp:logout", { detail }));
  }
  return new ApiError(detail.split("\n")[0], response.status);
}

/** GET (or POST with a body) a JSON route; throws ApiError with the API's one-line detail. */
export async function api(path, body) {
  const init = body === undefined ? { headers: headers(false) } : { method: "POST", headers: headers(true), body: JSON.stringify(body) };
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** POST ``body`` to ``path`` and call ``onEvent(name, data)`` for each server-sent event. */
export async function stream(path, body, onEvent) {
  const response = await fetch(path, { method: "POST", headers: headers(true), body: JSON.stringify(body) });
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      onEvent(name, data ? JSON.parse(data) : null);
    }
  }
}
