package proxy

import (
	"encoding/json"
	"html"
	"net/http"
	"strconv"
	"strings"
)

// page is what the router says, for browsers and for programs, when it
// answers a request itself.
type page struct {
	code  string // machine-readable, for JSON
	title string
	text  string // may contain %HOST%
}

var pages = map[int]page{
	http.StatusNotFound: {"no_such_app", "No app here",
		"No app answers at %HOST%. Check the address, or add the domain to an app."},
	http.StatusServiceUnavailable: {"app_unavailable", "App not available",
		"The app at %HOST% has no running web instance right now. Try again in a few seconds."},
	http.StatusBadGateway: {"bad_gateway", "Bad gateway",
		"The app at %HOST% did not answer properly."},
	http.StatusRequestEntityTooLarge: {"body_too_large", "Request too large",
		"The request body is larger than the app at %HOST% accepts."},
	http.StatusRequestTimeout: {"request_timeout", "Request timeout",
		"The request body stopped arriving before it was complete."},
}

// starting is the 503 page served before the first routing table.
var starting = page{"router_starting", "Router starting",
	"The router has no routing table yet. Try again in a few seconds."}

// wantsJSON reports whether the client asked for JSON rather than HTML.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

func writeError(w http.ResponseWriter, r *http.Request, status int, requestID string) {
	writePage(w, r, status, pages[status], requestID)
}

// ServeStarting answers that the router has no routing table yet.
func ServeStarting(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "5")
	writePage(w, r, http.StatusServiceUnavailable, starting, requestID(r.Header.Get("X-Request-Id")))
}

func writePage(w http.ResponseWriter, r *http.Request, status int, p page, requestID string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Request-Id", requestID)
	if wantsJSON(r) {
		body, _ := json.Marshal(struct {
			Error     string `json:"error"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		}{p.code, strings.ReplaceAll(p.text, "%HOST%", r.Host), requestID})
		h.Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(append(body, '\n'))
		return
	}
	text := strings.ReplaceAll(html.EscapeString(p.text), "%HOST%", "<code>"+html.EscapeString(r.Host)+"</code>")
	h.Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>` + html.EscapeString(p.title) + `</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}code{background:#f3f3f3;padding:0 .2em}small{color:#777}</style></head>
<body><h1>` + html.EscapeString(p.title) + `</h1>
<p>` + text + `</p>
<p><small>` + strconv.Itoa(status) + ` ` + http.StatusText(status) + ` · request ` + html.EscapeString(requestID) + `</small></p>
</body></html>
`))
}
