// Package web is the browser dashboard served by "paas server": embedded
// assets (one HTML page, one script, one style sheet; no CDN, no build step)
// that drive the same public REST API as the CLI.
//
// The page is a small single-page app. It signs in with an API token, which
// it keeps in the tab's sessionStorage and sends as "Authorization: Bearer"
// on every call to /v1, so the API's authentication is the only one there
// is: the dashboard's own routes serve static files and need no session.
// Sign-in with a username and password needs a password store in the
// controller and is not offered yet.
//
// Handler serves the dashboard at "/" (index.html) and its assets under
// "/assets/". Mount it on the same host as the API so that the page's calls
// are same-origin:
//
//	mux.Handle("/v1/", ctl.Handler())
//	mux.Handle("/healthz", ctl.Handler())
//	mux.Handle("/", web.Handler(web.Options{}))
//
// The live log view asks for the last lines again every two seconds and
// appends what is new. It does not read the streamed answer of
// /v1/apps/{app}/logs?follow=1 because the API does not flush that stream
// yet (its status-recording ResponseWriter hides the Flusher).
//
// Every answer carries a strict Content-Security-Policy (default-src 'self',
// no inline script or style, no framing), so that text from apps — log
// lines, config values, release descriptions — can only ever be shown as
// text; the script builds the DOM with textContent and never with innerHTML.
package web
