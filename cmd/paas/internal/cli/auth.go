package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"paas/controller"
)

func (r *runner) addAuthCommands(root *cobra.Command) {
	var tokenFlag string
	login := &cobra.Command{
		Use:     "login [URL]",
		Short:   "Log in to a paas controller and save its URL and your token",
		GroupID: groupAccess,
		Long: "Log in to the paas controller at URL (default: the last one) with an API token.\n\n" +
			"The token comes from --token, else PAAS_TOKEN, else a prompt on the terminal\n" +
			"(or one line of standard input). It is checked, then saved with the URL.",
		Args: nargs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := configPath(r.env.Getenv)
			if err != nil {
				return err
			}
			saved, err := loadConfig(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			url := firstOf(firstOf(args...), r.env.Getenv("PAAS_URL"), saved.URL)
			if url == "" {
				return fmt.Errorf("usage: %s", cmd.UseLine())
			}
			if _, err := controller.NewClient(url, "", nil); err != nil {
				return err
			}
			token := firstOf(tokenFlag, r.env.Getenv("PAAS_TOKEN"))
			if token == "" {
				if token, err = r.readSecret("API token for " + url + ": "); err != nil || token == "" {
					return errors.New("no token given: pass --token, set PAAS_TOKEN, or type it when asked")
				}
			}
			c, err := controller.NewClient(url, token, nil)
			if err != nil {
				return err
			}
			me, err := c.Me(cmd.Context())
			if errors.Is(err, controller.ErrUnauthorized) {
				// Not wrapped: the usual hint, to run paas login, is no help here.
				return fmt.Errorf("%s does not accept this token: %v", c.URL(), err)
			}
			if err != nil {
				return err
			}
			if err := saveConfig(path, config{URL: c.URL(), Token: token}); err != nil {
				return err
			}
			r.printf("Logged in to %s as %s\n", c.URL(), me.Name)
			return nil
		},
	}
	login.Flags().StringVar(&tokenFlag, "token", "", "the API token (default: PAAS_TOKEN, else ask)")

	root.AddCommand(
		login,
		&cobra.Command{
			Use:     "logout",
			Short:   "Forget the saved API token",
			GroupID: groupAccess,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				path, err := configPath(r.env.Getenv)
				if err != nil {
					return err
				}
				c, err := loadConfig(path)
				if errors.Is(err, fs.ErrNotExist) || (err == nil && c.Token == "") {
					r.printf("Not logged in\n")
					return nil
				}
				if err != nil {
					return err
				}
				c.Token = ""
				if err := saveConfig(path, c); err != nil {
					return err
				}
				r.printf("Logged out of %s\n", c.URL)
				return nil
			},
		},
		r.jsonFlag(&cobra.Command{
			Use:     "whoami",
			Short:   "Show the user you are logged in as",
			GroupID: groupAccess,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := r.client()
				if err != nil {
					return err
				}
				me, err := c.Me(cmd.Context())
				if err != nil {
					return err
				}
				return r.show(me, func(w io.Writer, _ bool) error {
					_, err := fmt.Fprintln(w, me.Name)
					return err
				})
			},
		}),
	)
	r.addKeyCommands(root)
	r.addTokenCommands(root)
}

func (r *runner) addKeyCommands(root *cobra.Command) {
	root.AddCommand(
		r.jsonFlag(&cobra.Command{
			Use:     "keys",
			Aliases: []string{"keys:list"},
			Short:   "List your SSH keys",
			GroupID: groupAccess,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := r.client()
				if err != nil {
					return err
				}
				keys, err := c.Keys(cmd.Context())
				if err != nil {
					return err
				}
				t := newTable("id", "type", "fingerprint", "comment", "added")
				for _, k := range keys {
					t.add(fmt.Sprint(k.ID), k.Type, k.Fingerprint, k.Comment, formatTime(k.CreatedAt))
				}
				return r.show(keys, t.render)
			},
		}),
		&cobra.Command{
			Use:     "keys:add [FILE]",
			Short:   "Add an SSH public key, to push with git",
			Long:    "Add an SSH public key to push with git. FILE defaults to ~/.ssh/id_ed25519.pub, else ~/.ssh/id_rsa.pub.",
			GroupID: groupAccess,
			Args:    nargs(0, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				path := firstOf(args...)
				if path == "" {
					var err error
					if path, err = defaultKeyFile(r.env.Getenv("HOME")); err != nil {
						return err
					}
				}
				key, err := readPublicKey(path)
				if err != nil {
					return err
				}
				c, err := r.client()
				if err != nil {
					return err
				}
				k, err := c.AddKey(cmd.Context(), key)
				if err != nil {
					return err
				}
				r.printf("Added key %d from %s: %s\n", k.ID, path, k.Fingerprint)
				return nil
			},
		},
		&cobra.Command{
			Use:     "keys:remove ID|FINGERPRINT|COMMENT",
			Short:   "Remove one of your SSH keys",
			GroupID: groupAccess,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := r.client()
				if err != nil {
					return err
				}
				keys, err := c.Keys(cmd.Context())
				if err != nil {
					return err
				}
				k, err := matchKey(keys, args[0])
				if err != nil {
					return err
				}
				if err := c.RemoveKey(cmd.Context(), k.ID); err != nil {
					return err
				}
				r.printf("Removed key %d (%s)\n", k.ID, firstOf(k.Comment, k.Fingerprint))
				return nil
			},
		},
	)
}

// defaultKeyFile finds the public key keys:add sends when given none.
func defaultKeyFile(home string) (string, error) {
	if home == "" {
		return "", errors.New("HOME is not set: give the public key FILE")
	}
	names := []string{"id_ed25519.pub", "id_rsa.pub"}
	for _, n := range names {
		p := filepath.Join(home, ".ssh", n)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no SSH public key in %s (looked for %s): give the FILE, or make a key with ssh-keygen -t ed25519",
		filepath.Join(home, ".ssh"), strings.Join(names, " and "))
}

// readPublicKey reads a public key file, refusing a private key sent by
// mistake.
func readPublicKey(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", err
	}
	if bytes.Contains(b, []byte("PRIVATE KEY")) {
		return "", fmt.Errorf("%s is a private key: give the public key, usually the same name with .pub", path)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return key, nil
}

func (r *runner) addTokenCommands(root *cobra.Command) {
	var description string
	create := &cobra.Command{
		Use:     "tokens:create",
		Short:   "Make a new API token; its secret is shown only once",
		GroupID: groupAccess,
		Args:    nargs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			t, err := c.CreateToken(cmd.Context(), description)
			if err != nil {
				return err
			}
			// The note goes to Stderr so that $(paas tokens:create) is the secret alone.
			return r.show(t, func(w io.Writer, _ bool) error {
				fmt.Fprintf(r.env.Stderr, "Created token %d. Copy its secret now; it is not shown again:\n", t.ID)
				_, err := fmt.Fprintln(w, t.Secret)
				return err
			})
		},
	}
	create.Flags().StringVar(&description, "description", "", "what the token is for")
	r.jsonFlag(create)

	root.AddCommand(
		r.jsonFlag(&cobra.Command{
			Use:     "tokens",
			Aliases: []string{"tokens:list"},
			Short:   "List your API tokens",
			GroupID: groupAccess,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := r.client()
				if err != nil {
					return err
				}
				tokens, err := c.Tokens(cmd.Context())
				if err != nil {
					return err
				}
				t := newTable("id", "description", "prefix", "created", "last used")
				for _, tok := range tokens {
					used := "never"
					if tok.LastUsedAt != nil {
						used = formatTime(*tok.LastUsedAt)
					}
					t.add(fmt.Sprint(tok.ID), tok.Description, tok.Prefix, formatTime(tok.CreatedAt), used)
				}
				return r.show(tokens, t.render)
			},
		}),
		create,
		&cobra.Command{
			Use:     "tokens:revoke ID",
			Short:   "Revoke one of your API tokens",
			GroupID: groupAccess,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := parseID("token", args[0])
				if err != nil {
					return err
				}
				c, err := r.client()
				if err != nil {
					return err
				}
				if err := c.RevokeToken(cmd.Context(), id); err != nil {
					return err
				}
				r.printf("Revoked token %d\n", id)
				return nil
			},
		},
	)
}

// firstOf returns the first non-empty string.
func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
