// Package web is the browser dashboard served by "paas server": embedded
// assets that drive the same REST API as the CLI.
//
// Not built yet: see the dashboard issue.
package web
