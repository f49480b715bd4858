// Package command parses the command line of an SSH exec request into the
// one git service and app it names. Nothing in it reaches a shell: the line
// is only ever matched against the few forms that git itself sends.
package command

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"paas/controller"
)

// The git services a client may ask for.
const (
	ReceivePack = "git-receive-pack" // git push
	UploadPack  = "git-upload-pack"  // git clone, fetch, ls-remote
	Run         = "run"              // paas run: run APP [--] COMMAND...
)

// Command is a parsed exec request.
type Command struct {
	Service string // ReceivePack, UploadPack or Run
	App     string // a valid app name
	Args    string // for Run: the command line to run (may be empty: a shell)
}

// maxRunLine bounds a run command line.
const maxRunLine = 16 << 10

// maxLine bounds the command lines worth looking at; git sends a few dozen bytes.
const maxLine = 256

// Errors of Parse; the returned errors wrap one of them and carry a
// message meant for the person at the other end.
var (
	ErrCommand = errors.New("unsupported command")
	ErrPath    = errors.New("bad repository path")
)

// Parse reads the line git sends over SSH: a service and a repository path,
// e.g. "git-receive-pack 'shop.git'". The path may be quoted as git quotes it
// or bare, may start with "/" and may end with ".git"; what is left must be a
// valid app name.
func Parse(line string) (Command, error) {
	if rest, ok := strings.CutPrefix(strings.TrimSpace(line), Run+" "); ok {
		return parseRun(rest, len(line))
	}
	if len(line) > maxLine || !utf8.ValidString(line) {
		return Command{}, fmt.Errorf("%w: this server only runs git push and git clone", ErrCommand)
	}
	service, arg, ok := strings.Cut(strings.TrimSpace(line), " ")
	if service == "git" { // "git receive-pack 'x'", as some clients send it
		var sub string
		sub, arg, ok = strings.Cut(strings.TrimLeft(arg, " "), " ")
		service = "git-" + sub
	}
	switch service {
	case ReceivePack, UploadPack:
	default:
		return Command{}, fmt.Errorf("%w %q: this server only runs git push and git clone", ErrCommand, printable(line))
	}
	arg = strings.TrimSpace(arg)
	if !ok || arg == "" {
		return Command{}, fmt.Errorf("%w: %s needs a repository, e.g. %s 'shop.git'", ErrPath, service, service)
	}
	path, err := unquote(arg)
	if err != nil {
		return Command{}, fmt.Errorf("%w %q: %v", ErrPath, printable(arg), err)
	}
	app := strings.TrimPrefix(path, "/")
	app = strings.TrimSuffix(app, ".git")
	if err := controller.ValidateAppName(app); err != nil {
		return Command{}, fmt.Errorf("%w %q: a repository is named after its app, e.g. 'shop.git'", ErrPath, printable(path))
	}
	return Command{Service: service, App: app}, nil
}

// unquote undoes git's quoting of one argument: either a bare word or one
// single-quoted string. App names need nothing more, so nothing more is read.
func unquote(s string) (string, error) {
	if strings.HasPrefix(s, "'") {
		if len(s) < 2 || !strings.HasSuffix(s, "'") || strings.Contains(s[1:len(s)-1], "'") {
			return "", errors.New("unbalanced quotes")
		}
		return s[1 : len(s)-1], nil
	}
	if strings.ContainsAny(s, "'\"\\ \t\n$`;&|<>(){}*?!~") {
		return "", errors.New("one plain word or one single-quoted word expected")
	}
	return s, nil
}

// printable shortens s and replaces what a terminal would interpret.
func printable(s string) string {
	const max = 60
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

// parseRun reads "APP [--] COMMAND...": the app, then the command line as
// the person typed it (it runs with /bin/sh -c in the app's container).
func parseRun(rest string, n int) (Command, error) {
	if n > maxRunLine || !utf8.ValidString(rest) || strings.ContainsRune(rest, 0) {
		return Command{}, fmt.Errorf("%w: the command line is too long or not text", ErrCommand)
	}
	app, args, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
	if err := controller.ValidateAppName(app); err != nil {
		return Command{}, fmt.Errorf("%w %q: run APP [--] COMMAND", ErrPath, printable(app))
	}
	args = strings.TrimSpace(args)
	if a, ok := strings.CutPrefix(args, "--"); ok && (a == "" || a[0] == ' ') {
		args = strings.TrimSpace(a)
	}
	return Command{Service: Run, App: app, Args: args}, nil
}
