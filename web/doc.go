// Package web is the browser dashboard served by "paas server": embedded
// assets (one HTML page, one script, one style sheet; no CDN, no build step)
// that drive the same public REST API as the CLI.
//
// # Sessions
//
// The page signs in once, with a user name and password (an admin sets
// them: paas users:passwd) or an API token, by POST /v1/sessions. The
// controller answers with a session cookie (controller.SessionCookie):
// HttpOnly, so script cannot read it; SameSite=Strict, so no other site's
// page sends it; over HTTPS Secure and named with the __Host- prefix
// (controller.SecureSessionCookie), so that no app under the base domain,
// same-site with the dashboard, can set or shadow it. The controller
// keeps only a hash of the session's secret, with an expiry, and forgets
// it on sign-out (DELETE /v1/sessions/current). Every call with a method
// other than GET made with the cookie must carry the session's CSRF token
// in the X-CSRF-Token header; the page gets the token from the sign-in
// answer or GET /v1/sessions/current and keeps it in memory only. The
// dashboard posts no HTML forms to the server: every form is sent by
// script, as JSON, with that header. No token or password is kept in the
// browser.
//
// Handler serves the page at "/" only to a browser with a live session:
// it asks Options.Sessions (the controller) about the cookie and otherwise
// redirects to "/signin", which serves the same page showing the sign-in
// form. Assets under "/assets/" need no session. Mount the dashboard on
// the same host as the API so that the page's calls are same-origin:
//
//	mux.Handle("/v1/", ctl.Handler())
//	mux.Handle("/healthz", ctl.Handler())
//	mux.Handle("/", web.Handler(web.Options{Sessions: ctl}))
//
// # Pages
//
// Apps (list, create, destroy); an app (formation and scaling, instances
// with health, deploy activity, request charts from the router's per-minute
// metrics of the last hour, releases with config diffs and rollback, config
// vars hidden until revealed, live logs read from the streamed answer of
// /v1/apps/{app}/logs?follow=1 with a process filter, builds with their
// output, health checks, domains); the account (SSH keys, API tokens shown
// once, collaborators of the apps one owns); admin (users and passwords,
// the audit log). Pages poll the API every few seconds, so a rollout or a
// scale shows its instances as they come up without a reload.
//
// Every answer carries a strict Content-Security-Policy (default-src 'self',
// no inline script or style, no framing), so that text from apps — log
// lines, config values, release descriptions — can only ever be shown as
// text; the script builds the DOM with textContent and never with innerHTML.
package web
