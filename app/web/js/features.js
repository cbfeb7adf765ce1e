// What this server can do, read from its OpenAPI document, so the page offers a control only
// where the API has the route behind it (a newer API brings its controls with it; an older
// one never shows a button that would fail).

const CHECKS = {
  // conversation titles, archive and pins: PATCH /conversations/{id}
  organise: (paths) => Boolean(paths["/conversations/{conversation_id}"]?.patch),
  search: (paths) => Boolean(paths["/search"]?.get || paths["/search"]?.post),
  fork: (paths) => Object.keys(paths).some((p) => p.startsWith("/conversations/{conversation_id}") && p.endsWith("/fork")),
  feedback: (paths) => Object.keys(paths).some((p) => p.endsWith("/feedback")),
  // a reply answered again in place: /chat's `regenerate`
  regenerate: (paths, schemas) => Boolean(paths["/chat"]?.post && schemas.ChatIn?.properties?.regenerate),
};

/** {organise, search, fork, feedback, regenerate}: booleans; all false when the document is
 * unreadable. */
export async function detectFeatures(api) {
  let paths = {};
  let schemas = {};
  try {
    const document = await api.schema();
    paths = document.paths ?? {};
    schemas = document.components?.schemas ?? {};
  } catch {
    // no schema (an older server, a proxy that hides it): offer the basic controls only
  }
  return Object.fromEntries(Object.entries(CHECKS).map(([name, check]) => [name, check(paths, schemas)]));
}
