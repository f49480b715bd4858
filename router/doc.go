// Package router is paas's HTTP edge: it maps each app's domains to its
// healthy instances and proxies requests to them.
//
// A Router follows the controller's versioned routing table
// (controller.RoutingTable) through a TableSource — list, then watch — and
// swaps its whole handler atomically on every change, so a change never
// drops or misroutes a request in flight; when the source fails it keeps
// serving the last table it had. Update swaps a table in directly.
//
// Per app, requests are spread round-robin over the app's endpoints through
// keep-alive connection pools that outlive table swaps. An endpoint that
// refuses a connection is left out for a short cooldown and the request is
// retried once on another endpoint (nothing was sent, so this is safe).
// WebSockets and streamed responses (SSE, chunked) pass through unbuffered.
// Backends see X-Forwarded-For, -Host, -Proto and -Port, and an
// X-Request-Id, kept from the client if it sent a sane one.
//
// Serve applies the edge limits: a read-header timeout against slow
// clients, an idle timeout, a maximum header size (431 beyond it), a
// per-app maximum body (413) and a timeout between reads of a body. The
// router answers by itself with short HTML pages, or JSON when the client
// asks for it: 404 for an unknown host, 503 with Retry-After when an app
// has no endpoint, 502 when a backend fails before its response.
//
// Plain HTTP/1.1 requests for an app's exact domain — nearly all of an
// app's traffic — take a fast path: parsed from the connection's read
// buffer and relayed to a pooled backend connection on the connection's
// own goroutine, without net/http's per-request machinery (about half the
// router's CPU per request). A connection whose request is anything else
// (a WebSocket upgrade, a chunked or Expect request body, HTTP/1.0, a
// wildcard domain, an unknown host, a redirect to HTTPS, an ACME
// challenge, an oversized or malformed head) is handed, with the bytes
// already read, to net/http for the rest of its life; ServeWith lets
// paas server hand them to its own http.Server, which also serves the API.
// HTTPS is served by net/http (HTTP/2 included).
//
// MetricsHandler serves per-app request counters and latency histograms in
// Prometheus format, from a registry the Router owns; Options.AccessLog
// receives one record per request.
//
// This root package is the router's contract; the implementation, and
// every traefik type, is under router/internal.
package router
