package cli

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"paas/controller"
)

// addHTTPCommands adds paas http and http:set, an app's settings at the
// router: redirect to HTTPS (CapRover's "Force HTTPS") and the request
// body limit (Dokku's client-max-body-size).
func (r *runner) addHTTPCommands(root *cobra.Command) {
	root.AddCommand(
		r.jsonFlag(r.appFlag(&cobra.Command{
			Use:     "http",
			Short:   "Show an app's HTTP settings at the router",
			GroupID: groupApps,
			Args:    nargs(0, 0),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				info, err := c.App(cmd.Context(), app)
				if err != nil {
					return err
				}
				return r.show(info.App, httpFields(info.App).render)
			},
		})),
		r.appFlag(&cobra.Command{
			Use:   "http:set KEY=VALUE...",
			Short: "Change an app's HTTP settings at the router",
			Long: `Change an app's HTTP settings at the router:

  force-https=true|false  answer plain-HTTP requests with a redirect (308) to HTTPS,
                          where the router serves HTTPS (--tls-listen)
  max-body-size=SIZE      largest request body (413 beyond it), e.g. 50M or 1G;
                          0 for the router's default`,
			Example: "  paas http:set force-https=true max-body-size=50M",
			GroupID: groupApps,
			Args:    cobra.MinimumNArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				u, err := parseHTTPSettings(args)
				if err != nil {
					return err
				}
				c, app, err := r.appClient(cmd.Context())
				if err != nil {
					return err
				}
				a, err := c.UpdateApp(cmd.Context(), app, u)
				if err != nil {
					return err
				}
				r.printf("Updated the HTTP settings of %s\n", app)
				return httpFields(a).render(r.env.Stdout, r.colour())
			},
		}),
	)
}

// parseHTTPSettings reads http:set's KEY=VALUE arguments.
func parseHTTPSettings(args []string) (controller.AppUpdate, error) {
	var u controller.AppUpdate
	for _, arg := range args {
		k, v, ok := strings.Cut(arg, "=")
		switch {
		case !ok:
			return u, controller.Errorf(controller.ErrInvalid, "invalid setting %q: use KEY=VALUE, e.g. force-https=true", arg)
		case k == "force-https":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return u, controller.Errorf(controller.ErrInvalid, "invalid force-https %q: use true or false", v)
			}
			u.ForceHTTPS = &b
		case k == "max-body-size":
			n, err := parseMemory(v)
			if err != nil {
				return u, controller.Errorf(controller.ErrInvalid, "invalid max-body-size %q: use a size such as 50M or 1G, or 0 for the default", v)
			}
			u.MaxBodyBytes = &n
		default:
			return u, controller.Errorf(controller.ErrInvalid, "unknown setting %q: the settings are force-https and max-body-size", k)
		}
	}
	return u, controller.ValidateAppUpdate(u)
}

func httpFields(a controller.App) *fields {
	f := &fields{title: a.Name}
	f.add("Force HTTPS", strconv.FormatBool(a.ForceHTTPS))
	f.add("Max body size", formatMemory(a.MaxBodyBytes))
	return f
}
