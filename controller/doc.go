// Package controller is the contract of paas's controller: the vocabulary
// every other component shares (apps, releases, formation, domains, users,
// keys), the error kinds, the input rules, and a Go client for the REST API.
//
// The controller owns all state and all decisions. Its implementation lives
// under controller/internal (the store, the HTTP API, config encryption) and
// is put together by controller/server; nothing outside the controller
// touches the store. Followers (the router, gitreceive, the CLI, the
// dashboard) import this package and speak to the controller through Client
// or, inside one process, through the interfaces they declare themselves.
//
// The API is JSON over HTTP under /v1. Every call but /healthz and /v1/info
// carries an API token as "Authorization: Bearer TOKEN". Errors come back as
// {"error": "..."} with the status HTTPStatus gives for their kind, and
// Client turns them back into errors that wrap the same kind.
package controller
