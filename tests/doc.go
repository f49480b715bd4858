// Package tests is paas's black-box end-to-end suite. It builds the paas binary once, starts
// "paas server" processes on temporary data directories (listening on 127.0.0.1 only), and drives
// them the way a user and an operator do: through the CLI, each user with a HOME of their own, and
// through the REST API with the controller's client. Nothing here reaches into the server's
// packages; what is checked is what a user can see: output, exit statuses, HTTP answers, files in
// the data directory, and the server's log.
//
// The daemons come from tests/run.sh through internal/testenv: the private containerd the server
// reports on, and the private PostgreSQL of the PostgreSQL-backed run. Run the suite with
//
//	sudo tests/run.sh ./tests/...
//
// Without them, tests that need them are skipped, or fail under CI=true.
package tests
