package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"paas/controller"
)

func (r *runner) addAppCommands(root *cobra.Command) {
	var remote string
	create := &cobra.Command{
		Use:   "apps:create [NAME]",
		Short: "Create an app, and a paas git remote for it",
		Long: "Create an app; without NAME the server picks one. In a git work tree, also add\n" +
			"a git remote named paas (or --remote NAME) to push the app with.",
		GroupID: groupApps,
		Args:    nargs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := firstOf(args...)
			if len(args) == 1 { // an empty name given on purpose is a mistake, not a request for a random one
				if err := controller.ValidateAppName(name); err != nil {
					return err
				}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			app, err := c.CreateApp(cmd.Context(), name)
			if err != nil {
				return err
			}
			r.printf("Created %s\n", app.Name)
			if app.WebURL != "" {
				r.printf("%s | %s\n", app.WebURL, app.GitURL)
			}
			return r.addRemote(cmd.Context(), app, remote)
		},
	}
	create.Flags().StringVar(&remote, "remote", "", "name of the git remote to add (default: paas)")

	var confirm string
	destroy := &cobra.Command{
		Use:     "apps:destroy [NAME]",
		Short:   "Destroy an app with all its releases, config and domains",
		GroupID: groupApps,
		Args:    nargs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			name := firstOf(args...)
			if name == "" {
				var err error
				if name, err = r.appName(ctx); err != nil {
					return err
				}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := r.confirm(fmt.Sprintf("This destroys %s, its releases, config, domains and running instances.", name), name, confirm); err != nil {
				return err
			}
			if err := c.DestroyApp(ctx, name); err != nil {
				return err
			}
			r.printf("Destroyed %s\n", name)
			if url, err := git(ctx, "remote", "get-url", gitRemote); err == nil {
				if a, err := appFromRemote(url); err == nil && a == name {
					if _, err := git(ctx, "remote", "remove", gitRemote); err != nil {
						return err
					}
					r.printf("Removed git remote %s\n", gitRemote)
				}
			}
			return nil
		},
	}
	destroy.Flags().StringVar(&confirm, "confirm", "", "the app's name, to destroy it without being asked")
	r.appFlag(destroy)

	root.AddCommand(
		r.jsonFlag(&cobra.Command{
			Use:     "apps",
			Aliases: []string{"apps:list"},
			Short:   "List your apps",
			GroupID: groupApps,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := r.client()
				if err != nil {
					return err
				}
				apps, err := c.Apps(cmd.Context())
				if err != nil {
					return err
				}
				t := newTable("name", "owner", "release", "url")
				for _, a := range apps {
					rel := ""
					if a.Release > 0 {
						rel = version(a.Release)
					}
					t.add(a.Name, a.Owner, rel, a.WebURL)
				}
				return r.show(apps, t.render)
			},
		}),
		create,
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "apps:info [NAME]",
			Short:   "Show an app",
			GroupID: groupApps,
			Args:    nargs(0, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				name := firstOf(args...)
				if name == "" {
					var err error
					if name, err = r.appName(cmd.Context()); err != nil {
						return err
					}
				}
				c, err := r.client()
				if err != nil {
					return err
				}
				info, err := c.App(cmd.Context(), name)
				if err != nil {
					return err
				}
				return r.show(info, appFields(info).render)
			},
		})),
		destroy,
	)
	r.addAccessCommands(root)
	r.addDomainCommands(root)
	r.addCertCommands(root)
	r.addBuildpackCommands(root)
	r.addHTTPCommands(root)
}

// addRemote adds a git remote for a new app when in a git work tree,
// leaving an existing remote of that name alone.
func (r *runner) addRemote(ctx context.Context, app controller.App, name string) error {
	if app.GitURL == "" || !inWorkTree(ctx) {
		return nil
	}
	chosen := name != ""
	if !chosen {
		name = gitRemote
	}
	if url, err := git(ctx, "remote", "get-url", name); err == nil {
		r.printf("Git remote %s already exists (%s); left as it is.\n", name, url)
		if !chosen {
			r.printf("Add another with paas apps:create --remote NAME, or git remote add NAME %s\n", app.GitURL)
		}
		return nil
	}
	if _, err := git(ctx, "remote", "add", name, app.GitURL); err != nil {
		return fmt.Errorf("created %s, but could not add a git remote: %w", app.Name, err)
	}
	r.printf("Git remote %s added: push with git push %s main\n", name, name)
	return nil
}

// appFields is what apps:info shows.
func appFields(a controller.AppInfo) *fields {
	f := &fields{title: a.Name}
	f.add("Owner", a.Owner)
	f.add("Git URL", a.GitURL)
	f.add("Web URL", a.WebURL)
	if a.Current != nil {
		f.add("Release", fmt.Sprintf("%s %s, %s", version(a.Current.Version), a.Current.Status, a.Current.Description))
	} else {
		f.add("Release", "none yet: git push to deploy")
	}
	f.add("Formation", formationSummary(a.Formation))
	domains := make([]string, len(a.Domains))
	for i, d := range a.Domains {
		domains[i] = d.Name
	}
	f.add("Domains", strings.Join(domains, ", "))
	collaborators := make([]string, len(a.Collaborators))
	for i, c := range a.Collaborators {
		collaborators[i] = c.User
	}
	f.add("Collaborators", strings.Join(collaborators, ", "))
	f.add("Created", formatTime(a.CreatedAt))
	return f
}

func (r *runner) addAccessCommands(root *cobra.Command) {
	root.AddCommand(
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "access",
			Aliases: []string{"access:list"},
			Short:   "List the collaborators of an app",
			GroupID: groupApps,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				cs, err := c.Collaborators(cmd.Context(), app)
				if err != nil {
					return err
				}
				t := newTable("user", "added")
				for _, co := range cs {
					t.add(co.User, formatTime(co.CreatedAt))
				}
				return r.show(cs, t.render)
			},
		})),
		r.appFlag(&cobra.Command{
			Use:     "access:add USER",
			Short:   "Let a user deploy and configure an app",
			GroupID: groupApps,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := controller.ValidateUserName(args[0]); err != nil {
					return err
				}
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				if _, err := c.AddCollaborator(cmd.Context(), app, args[0]); err != nil {
					return err
				}
				r.printf("Added %s to the collaborators of %s\n", args[0], app)
				return nil
			},
		}),
		r.appFlag(&cobra.Command{
			Use:     "access:remove USER",
			Short:   "Take a collaborator's access to an app away",
			GroupID: groupApps,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.RemoveCollaborator(cmd.Context(), app, args[0]); err != nil {
					return err
				}
				r.printf("Removed %s from the collaborators of %s\n", args[0], app)
				return nil
			},
		}),
	)
}

func (r *runner) addCertCommands(root *cobra.Command) {
	root.AddCommand(
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "certs",
			Aliases: []string{"certs:list"},
			Short:   "List an app's TLS certificates",
			GroupID: groupApps,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				cs, err := c.Certs(cmd.Context(), app)
				if err != nil {
					return err
				}
				return r.show(cs, func(w io.Writer, colour bool) error {
					t := newTable("name", "domains", "expires", "issuer")
					for _, ct := range cs {
						t.add(ct.Name, strings.Join(ct.Domains, ", "), ct.NotAfter.Format("2006-01-02"), ct.Issuer)
					}
					return t.render(w, colour)
				})
			},
		})),
		r.appFlag(&cobra.Command{
			Use:     "certs:add CERT_FILE KEY_FILE",
			Short:   "Add a TLS certificate (PEM chain, leaf first) and its key; served by SNI",
			GroupID: groupApps,
			Args:    nargs(2, 2),
			RunE: func(cmd *cobra.Command, args []string) error {
				cert, err := os.ReadFile(args[0])
				if err != nil {
					return err
				}
				key, err := os.ReadFile(args[1])
				if err != nil {
					return err
				}
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				ct, err := c.AddCert(cmd.Context(), app, controller.NewCert{CertPEM: string(cert), KeyPEM: string(key)})
				if err != nil {
					return err
				}
				r.printf("Added certificate %s to %s (covers %s; expires %s)\n", ct.Name, app, strings.Join(ct.Domains, ", "), ct.NotAfter.Format("2006-01-02"))
				return nil
			},
		}),
		r.appFlag(&cobra.Command{
			Use:     "certs:remove NAME",
			Short:   "Remove an app's TLS certificate",
			GroupID: groupApps,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.RemoveCert(cmd.Context(), app, args[0]); err != nil {
					return err
				}
				r.printf("Removed certificate %s from %s\n", args[0], app)
				return nil
			},
		}),
	)
}

func (r *runner) addDomainCommands(root *cobra.Command) {
	root.AddCommand(
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "domains",
			Aliases: []string{"domains:list"},
			Short:   "List the custom domains of an app",
			GroupID: groupApps,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				ds, err := c.Domains(cmd.Context(), app)
				if err != nil {
					return err
				}
				t := newTable("domain", "added")
				for _, d := range ds {
					t.add(d.Name, formatTime(d.CreatedAt))
				}
				return r.show(ds, t.render)
			},
		})),
		r.appFlag(&cobra.Command{
			Use:     "domains:add NAME",
			Short:   "Route a host name to an app",
			GroupID: groupApps,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				name, err := controller.NormalizeDomain(args[0])
				if err != nil {
					return err
				}
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				d, err := c.AddDomain(cmd.Context(), app, name)
				if err != nil {
					return err
				}
				r.printf("Added %s to %s\n", d.Name, app)
				return nil
			},
		}),
		r.appFlag(&cobra.Command{
			Use:     "domains:remove NAME",
			Short:   "Stop routing a host name to an app",
			GroupID: groupApps,
			Args:    nargs(1, 1),
			RunE: func(cmd *cobra.Command, args []string) error {
				name, err := controller.NormalizeDomain(args[0])
				if err != nil {
					return err
				}
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				if err := c.RemoveDomain(cmd.Context(), app, name); err != nil {
					return err
				}
				r.printf("Removed %s from %s\n", name, app)
				return nil
			},
		}),
	)
}
