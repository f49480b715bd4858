package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"

	"paas/controller"
)

// gitRemote is the name of the git remote that apps:create adds and app
// commands read the app from.
const gitRemote = "paas"

// git runs git with the given arguments in the current directory and
// returns its standard output, trimmed. Arguments are passed as they are,
// never through a shell.
func git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", errors.New("git is not installed")
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// inWorkTree tells whether the current directory is in a git work tree.
func inWorkTree(ctx context.Context) bool {
	out, err := git(ctx, "rev-parse", "--is-inside-work-tree")
	return err == nil && out == "true"
}

// appFromRemote returns the app a git remote URL points at: NAME in
// ssh://git@host:2222/NAME.git or git@host:NAME.git, with ".git" and a
// leading "/" optional.
func appFromRemote(remote string) (string, error) {
	var path string
	if strings.Contains(remote, "://") {
		u, err := url.Parse(remote)
		if err != nil {
			return "", fmt.Errorf("cannot read remote URL %q", remote)
		}
		path = u.Path
	} else {
		// git's scp-like syntax, [user@]host:path, has a colon before any slash.
		i := strings.Index(remote, ":")
		if i <= 0 || strings.Contains(remote[:i], "/") {
			return "", fmt.Errorf("remote URL %q is not a paas git URL", remote)
		}
		path = remote[i+1:]
	}
	name := strings.TrimSuffix(strings.TrimPrefix(path, "/"), ".git")
	if err := controller.ValidateAppName(name); err != nil {
		return "", fmt.Errorf("remote URL %q does not name a paas app", remote)
	}
	return name, nil
}
