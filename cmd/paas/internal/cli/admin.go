package cli

import (
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"paas/controller"
)

func (r *runner) addAdminCommands(root *cobra.Command) {
	var admin bool
	create := &cobra.Command{
		Use:     "users:create NAME",
		Short:   "Create a user and print their first API token",
		GroupID: groupAdmin,
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := controller.ValidateUserName(args[0]); err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			cu, err := c.CreateUser(cmd.Context(), controller.NewUser{Name: args[0], Admin: admin})
			if err != nil {
				return err
			}
			// The note goes to Stderr so that $(paas users:create bob) is the token alone.
			return r.show(cu, func(w io.Writer, _ bool) error {
				fmt.Fprintf(r.env.Stderr, "Created user %s. Their first API token, shown only this once:\n", cu.User.Name)
				_, err := fmt.Fprintln(w, cu.Token.Secret)
				return err
			})
		},
	}
	create.Flags().BoolVar(&admin, "admin", false, "make the user an administrator")
	r.jsonFlag(create)

	var confirm string
	remove := &cobra.Command{
		Use:     "users:remove NAME",
		Short:   "Delete a user who owns no apps, with their keys and tokens",
		GroupID: groupAdmin,
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			c, err := r.client()
			if err != nil {
				return err
			}
			if err := r.confirm(fmt.Sprintf("This deletes the user %s with their SSH keys and API tokens.", name), name, confirm); err != nil {
				return err
			}
			if err := c.DeleteUser(cmd.Context(), name); err != nil {
				return err
			}
			r.printf("Deleted user %s\n", name)
			return nil
		},
	}
	remove.Flags().StringVar(&confirm, "confirm", "", "the user's name, to delete them without being asked")

	var removePassword bool
	passwd := &cobra.Command{
		Use:   "users:passwd NAME",
		Short: "Set a user's password for the dashboard, read from a prompt or one line of stdin",
		Long: "Set a user's password for signing in to the dashboard. On a terminal it is asked for twice,\n" +
			"without echo; otherwise it is the first line of stdin. It is never taken from the command\n" +
			"line, where other users could see it. Setting it ends the user's dashboard sessions.",
		GroupID: groupAdmin,
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := controller.ValidateUserName(name); err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			password := ""
			if !removePassword {
				if password, err = r.readPassword("New password for " + name + ": "); err != nil {
					return err
				}
			}
			if err := c.SetPassword(cmd.Context(), name, password); err != nil {
				return err
			}
			if removePassword {
				r.printf("Removed the password of %s: they sign in with an API token only\n", name)
			} else {
				r.printf("Set the password of %s\n", name)
			}
			return nil
		},
	}
	passwd.Flags().BoolVar(&removePassword, "remove", false, "remove the password instead")

	var q controller.AuditQuery
	audit := &cobra.Command{
		Use:     "audit",
		Short:   "Show the audit log, newest first",
		GroupID: groupAdmin,
		Args:    nargs(0, 0),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client()
			if err != nil {
				return err
			}
			events, err := c.Audit(cmd.Context(), q)
			if err != nil {
				return err
			}
			t := newTable("id", "time", "actor", "action", "app", "detail")
			for _, e := range events {
				t.add(fmt.Sprint(e.ID), formatTime(e.Time), e.Actor, e.Action, e.App, e.Detail)
			}
			return r.show(events, t.render)
		},
	}
	// Here --app filters; it is not the app an app command works on.
	audit.Flags().StringVarP(&q.App, "app", "a", "", "only events of this app")
	audit.Flags().StringVar(&q.Actor, "actor", "", "only events caused by this user")
	audit.Flags().IntVar(&q.Limit, "limit", 0, "at most this many events (default: the server's, 100)")
	audit.Flags().Int64Var(&q.Before, "before", 0, "only events older than this ID, to page back")
	r.jsonFlag(audit)

	var appLimit string
	limits := &cobra.Command{
		Use:   "users:limits NAME",
		Short: "Show a user's limits, or set them with --apps",
		Long: "Show how many apps a user owns and may own. With --apps N the user may own N apps\n" +
			"(0: none); with --apps default they get the server's default again. Apps they\n" +
			"own beyond a lowered limit stay; they cannot create more. Admins have no limit.",
		GroupID: groupAdmin,
		Args:    nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := controller.ValidateUserName(name); err != nil {
				return err
			}
			var set *controller.UserLimits
			if cmd.Flags().Changed("apps") {
				set = &controller.UserLimits{}
				if appLimit != "default" {
					n, err := strconv.Atoi(appLimit)
					if err != nil || n < 0 {
						return controller.Errorf(controller.ErrInvalid, "invalid --apps %q: use a number of apps (0 or more), or default", appLimit)
					}
					set.Apps = &n
				}
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			var q controller.UserQuota
			if set != nil {
				q, err = c.SetUserLimits(cmd.Context(), name, *set)
			} else {
				q, err = c.UserQuota(cmd.Context(), name)
			}
			if err != nil {
				return err
			}
			return r.show(q, func(w io.Writer, colour bool) error {
				return quotaFields(q).render(w, colour)
			})
		},
	}
	limits.Flags().StringVar(&appLimit, "apps", "", "how many apps the user may own, or default for the server's default")
	r.jsonFlag(limits)

	root.AddCommand(passwd, limits)
	root.AddCommand(
		r.jsonFlag(&cobra.Command{
			Use:     "users",
			Aliases: []string{"users:list"},
			Short:   "List all users",
			GroupID: groupAdmin,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := r.client()
				if err != nil {
					return err
				}
				users, err := c.Users(cmd.Context())
				if err != nil {
					return err
				}
				t := newTable("name", "admin", "created")
				for _, u := range users {
					a := ""
					if u.Admin {
						a = "yes"
					}
					t.add(u.Name, a, formatTime(u.CreatedAt))
				}
				return r.show(users, t.render)
			},
		}),
		create,
		remove,
		audit,
	)
}

func quotaFields(q controller.UserQuota) *fields {
	f := &fields{title: q.User}
	f.add("Apps owned", strconv.Itoa(q.AppsOwned))
	limit := "none"
	if q.AppLimit != nil {
		limit = strconv.Itoa(*q.AppLimit)
	}
	if q.Apps == nil && q.AppLimit != nil {
		limit += " (the server's default)"
	}
	f.add("App limit", limit)
	return f
}
