// Package cli is the paas command line: the commands a developer types to
// log in, create apps, set config, scale, roll back and manage keys, tokens
// and users, in the colon style of Heroku and Deis (paas apps:create,
// paas config:set FOO=bar).
//
// Every command is a few lines over controller.Client; the controller does
// all checking and all work, and the CLI only validates input early where
// the controller package offers the rules. Main takes everything it reads
// and writes through Env, so a test can run the CLI in process, with no
// terminal: destructive commands take --confirm NAME, and a token can come
// from --token, PAAS_TOKEN or one line of standard input.
//
// The controller's URL and an API token are saved by paas login in
// <config dir>/paas/config.json (the config dir is $XDG_CONFIG_HOME, else
// $HOME/.config); PAAS_URL and PAAS_TOKEN override them. App commands take
// the app from --app, else from the URL of the current git work tree's
// "paas" remote, which apps:create adds. git is only ever run with fixed
// argument lists, never through a shell.
package cli
