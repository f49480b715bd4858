package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"paas/controller"
)

// Version is the version of paas, set when linking with
// -ldflags "-X paas/cmd/paas/internal/cli.Version=v1.2.3".
var Version = "dev"

// Env is what the CLI takes from the process around it. Main reads and
// writes only through it, so that a test can run the CLI in process.
//
// A nil Stdin reads as empty, a nil Stdout or Stderr discards, and a nil
// Getenv sees an empty environment. Colour and hidden token prompts need
// Stdout and Stdin to be terminals (*os.File); anything else gets plain
// text and plain line reads.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Main runs the paas command line with args (without the program name)
// and returns the process's exit status: 0, or 1 after printing the error
// on Stderr. The extra commands are added to the root as they are.
func Main(ctx context.Context, env Env, args []string, extra ...*cobra.Command) int {
	if env.Stdin == nil {
		env.Stdin = strings.NewReader("")
	}
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	r := &runner{env: env}
	root := r.root()
	root.AddCommand(extra...)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			return int(ec) // a one-off run's own exit status, already reported
		}
		fmt.Fprintf(env.Stderr, "error: %v\n", err)
		if errors.Is(err, controller.ErrUnauthorized) {
			fmt.Fprintln(env.Stderr, "hint: run paas login")
		}
		return 1
	}
	return 0
}

// runner holds one run of the command line: its environment and the
// values of the flags shared by many commands.
type runner struct {
	env Env
	in  *bufio.Reader // Stdin, buffered on first use

	app  string // --app
	json bool   // --json
}

// The groups commands are listed under in the help.
const (
	groupApps   = "apps"
	groupDeploy = "deploy"
	groupAccess = "access"
	groupAdmin  = "admin"
)

func (r *runner) root() *cobra.Command {
	root := &cobra.Command{
		Use:           "paas",
		Short:         "paas deploys apps with git push",
		Long:          "paas deploys apps with git push.\n\nStart with paas login URL, then paas apps:create in a git work tree and git push paas main.",
		Version:       Version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("paas {{.Version}}\n")
	root.AddGroup(
		&cobra.Group{ID: groupApps, Title: "Apps:"},
		&cobra.Group{ID: groupDeploy, Title: "Config, scale and releases:"},
		&cobra.Group{ID: groupAccess, Title: "Login, keys and tokens:"},
		&cobra.Group{ID: groupAdmin, Title: "Administration:"},
	)
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version of paas",
		Args:  nargs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.printf("paas %s\n", Version)
			return nil
		},
	})
	r.addAuthCommands(root)
	r.addAppCommands(root)
	r.addDeployCommands(root)
	r.addAdminCommands(root)
	return root
}

// nargs accepts between min and max positional arguments (max < 0: no
// limit) and otherwise answers with the command's usage.
func nargs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			return fmt.Errorf("usage: %s", cmd.UseLine())
		}
		return nil
	}
}

// appFlag gives cmd the --app flag of commands that work on one app.
func (r *runner) appFlag(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().StringVarP(&r.app, "app", "a", "", "the app (default: the one the paas git remote points at)")
	return cmd
}

// jsonFlag gives cmd the --json flag of commands that show something.
func (r *runner) jsonFlag(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().BoolVar(&r.json, "json", false, "print JSON instead of a table")
	return cmd
}

// client returns a client of the controller the user logged in to, with
// PAAS_URL and PAAS_TOKEN taking precedence over the saved config.
func (r *runner) client() (*controller.Client, error) {
	url, token := r.env.Getenv("PAAS_URL"), r.env.Getenv("PAAS_TOKEN")
	if url == "" || token == "" {
		path, err := configPath(r.env.Getenv)
		if err != nil {
			return nil, err
		}
		c, err := loadConfig(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if url == "" {
			url = c.URL
		}
		if token == "" {
			token = c.Token
		}
	}
	if url == "" || token == "" {
		return nil, errors.New("not logged in: run paas login URL")
	}
	return controller.NewClient(url, token, nil)
}

// appName returns the app an app command works on: --app, else the app
// the current git work tree's paas remote points at.
func (r *runner) appName(ctx context.Context) (string, error) {
	if r.app != "" {
		return r.app, controller.ValidateAppName(r.app)
	}
	url, err := git(ctx, "remote", "get-url", gitRemote)
	if err != nil {
		return "", errors.New("no app given: use --app NAME, or run this in a git work tree with a paas remote")
	}
	name, err := appFromRemote(url)
	if err != nil {
		return "", fmt.Errorf("git remote %s: %w; use --app NAME", gitRemote, err)
	}
	return name, nil
}

// appClient is what most app commands start with.
func (r *runner) appClient(ctx context.Context) (*controller.Client, string, error) {
	app, err := r.appName(ctx)
	if err != nil {
		return nil, "", err
	}
	c, err := r.client()
	return c, app, err
}

func (r *runner) printf(format string, args ...any) {
	fmt.Fprintf(r.env.Stdout, format, args...)
}

// colour tells whether output to Stdout may be coloured: Stdout must be a
// terminal, and NO_COLOR unset (https://no-color.org).
func (r *runner) colour() bool {
	f, ok := r.env.Stdout.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) &&
		r.env.Getenv("NO_COLOR") == "" && r.env.Getenv("TERM") != "dumb"
}

// show prints v as indented JSON when --json is given, else the view.
func (r *runner) show(v any, view func(w io.Writer, colour bool) error) error {
	if r.json {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(r.env.Stdout, "%s\n", b)
		return err
	}
	return view(r.env.Stdout, r.colour())
}

// readLine reads one line of Stdin, without its line end.
func (r *runner) readLine() (string, error) {
	if r.in == nil {
		r.in = bufio.NewReader(r.env.Stdin)
	}
	line, err := r.in.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readSecret asks for a secret: without echo on a terminal, else as one
// line of Stdin.
func (r *runner) readSecret(prompt string) (string, error) {
	if f, ok := r.env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(r.env.Stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(r.env.Stderr)
		return strings.TrimSpace(string(b)), err
	}
	line, err := r.readLine()
	return strings.TrimSpace(line), err
}

// readPassword asks for a new password: twice and without echo on a
// terminal, else as the first line of Stdin (kept as typed but for its
// line end).
func (r *runner) readPassword(prompt string) (string, error) {
	if f, ok := r.env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(r.env.Stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(r.env.Stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(r.env.Stderr, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(r.env.Stderr)
		if err != nil {
			return "", err
		}
		if string(b) != string(again) {
			return "", errors.New("the two passwords differ: nothing changed")
		}
		if len(b) == 0 {
			return "", errors.New("no password given: nothing changed (use --remove to remove one)")
		}
		return string(b), nil
	}
	line, err := r.readLine()
	if err != nil || line == "" {
		return "", errors.New("no password given: type it at the prompt or pipe it as one line of stdin")
	}
	return line, nil
}

// confirm makes sure the user means to destroy name: given is the value
// of --confirm; without it, the user must type the name.
func (r *runner) confirm(warning, name, given string) error {
	if given == "" {
		fmt.Fprintf(r.env.Stderr, "%s\nType %s to confirm: ", warning, name)
		line, err := r.readLine()
		if err != nil {
			fmt.Fprintln(r.env.Stderr)
			return fmt.Errorf("not confirmed: type %s, or pass --confirm %s", name, name)
		}
		given = strings.TrimSpace(line)
	}
	if given != name {
		return fmt.Errorf("confirmation %q does not match %s; nothing was changed", given, name)
	}
	return nil
}

// exitCode is an error that ends paas with a given status and no message:
// the exit status of the command paas run ran.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
