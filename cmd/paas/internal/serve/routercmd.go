package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"paas/controller"
	"paas/router"
)

// RouterCommand returns "paas router": the router alone, following a
// controller over its API, so that restarting the controller never stops
// app traffic. lookupEnv reads the environment (os.LookupEnv in main).
func RouterCommand(lookupEnv func(string) (string, bool)) *cobra.Command {
	var (
		controllerURL, token, listen, tlsListen, metricsListen, baseDomain string
		acmeDirectory, acmeEmail, acmeCAFile, acmeCache, apiHostList       string
		logLevel, logFormat                                                string
		maxConnsPerClient, minBodyRate                                     int64
	)
	cmd := &cobra.Command{
		Use:   "router",
		Short: "Run the router alone, following a remote controller's routing table",
		Long: `Run the router alone: it follows the routing table of the controller at
--controller (list, then watch) with an admin API token, and serves app traffic on
--listen. When the controller is unreachable it keeps serving the last table it had.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for flag, dst := range map[string]*string{"controller": &controllerURL, "token": &token, "listen": &listen, "tls-listen": &tlsListen, "metrics-listen": &metricsListen, "base-domain": &baseDomain,
				"acme-directory": &acmeDirectory, "acme-email": &acmeEmail, "acme-ca-file": &acmeCAFile, "acme-cache": &acmeCache, "api-hosts": &apiHostList} {
				if f := cmd.Flags().Lookup(flag); !f.Changed {
					if v, ok := lookupEnv(envName("router-" + flag)); ok {
						*dst = v
					}
				}
			}
			for flag, dst := range map[string]*int64{"min-body-rate": &minBodyRate, "max-conns-per-client": &maxConnsPerClient} {
				if v, ok := lookupEnv(envName("router-" + flag)); ok && !cmd.Flags().Lookup(flag).Changed {
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil {
						return fmt.Errorf("%s: %q is not a number", envName("router-"+flag), v)
					}
					*dst = n
				}
			}
			if token == "" {
				return errors.New("no API token: give --token or PAAS_ROUTER_TOKEN (an admin's token)")
			}
			client, err := controller.NewClient(controllerURL, token, &http.Client{})
			if err != nil {
				return err
			}
			apiHosts, err := routerAPIHosts(apiHostList, controllerURL)
			if err != nil {
				return err
			}
			cmd.SilenceUsage = true
			log := newLogger(Settings{LogLevel: logLevel, LogFormat: logFormat}, cmd.ErrOrStderr())
			tuneGC(log)
			acme, err := acmeOptions(acmeDirectory, acmeEmail, acmeCAFile, acmeCache)
			if err != nil {
				return err
			}
			rtr, err := router.New(router.Options{BaseDomain: baseDomain, APIHosts: apiHosts, Logger: log, ACME: acme, MaxConnsPerClient: int(maxConnsPerClient), MinBodyRate: minBodyRate, AccessLog: func(e router.AccessEntry) {
				log.Info("request", "app", e.App, "instance", e.Instance, "method", e.Method, "path", e.Path, "status", e.Status,
					"bytes", e.Bytes, "duration", e.Duration, "request_id", e.RequestID)
			}})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", listen, err)
			}
			log.Info("listening", "addr", ln.Addr().String(), "controller", controllerURL)
			g, ctx := errgroup.WithContext(cmd.Context())
			g.Go(func() error { return rtr.Run(ctx, client) })
			g.Go(func() error { return rtr.Serve(ctx, ln) })
			if tlsListen != "" {
				tln, err := net.Listen("tcp", tlsListen)
				if err != nil {
					return fmt.Errorf("listen on %s for HTTPS: %w", tlsListen, err)
				}
				log.Info("listening for HTTPS", "addr", tln.Addr().String())
				g.Go(func() error { return rtr.ServeTLS(ctx, tln) })
			}
			if metricsListen != "" {
				ms := &http.Server{Addr: metricsListen, Handler: rtr.MetricsHandler(), ReadHeaderTimeout: 5 * time.Second}
				g.Go(func() error {
					if err := ms.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
						return err
					}
					return nil
				})
				g.Go(func() error {
					<-ctx.Done()
					sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					return ms.Shutdown(sctx)
				})
			}
			return g.Wait()
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&controllerURL, "controller", "http://127.0.0.1:8000", "the controller's API URL [env PAAS_ROUTER_CONTROLLER]")
	fs.StringVar(&token, "token", "", "an admin API token [env PAAS_ROUTER_TOKEN]")
	fs.StringVar(&listen, "listen", ":80", "address for app traffic [env PAAS_ROUTER_LISTEN]")
	fs.StringVar(&tlsListen, "tls-listen", "", "address for HTTPS (certificates by SNI from the controller); empty for none [env PAAS_ROUTER_TLS_LISTEN]")
	fs.StringVar(&metricsListen, "metrics-listen", "", "address for /metrics (Prometheus); empty for none [env PAAS_ROUTER_METRICS_LISTEN]")
	fs.StringVar(&baseDomain, "base-domain", "localhost", "apps answer at <app>.<base-domain> unless the controller says otherwise [env PAAS_ROUTER_BASE_DOMAIN]")
	fs.StringVar(&apiHostList, "api-hosts", "", "host names of the paas API and dashboard, comma-separated, never routed to an app (besides those the controller names; default: the --controller URL's host) [env PAAS_ROUTER_API_HOSTS]")
	fs.StringVar(&acmeDirectory, "acme-directory", "", "ACME directory URL of a CA for automatic certificates of custom domains; empty for none [env PAAS_ROUTER_ACME_DIRECTORY]")
	fs.StringVar(&acmeEmail, "acme-email", "", "contact address for the ACME account [env PAAS_ROUTER_ACME_EMAIL]")
	fs.StringVar(&acmeCAFile, "acme-ca-file", "", "PEM roots to trust for the ACME server's own HTTPS; empty for the system's [env PAAS_ROUTER_ACME_CA_FILE]")
	fs.StringVar(&acmeCache, "acme-cache", "/var/lib/paas/router-acme", "directory for the ACME account key and certificates [env PAAS_ROUTER_ACME_CACHE]")
	fs.Int64Var(&maxConnsPerClient, "max-conns-per-client", 256, "connections one client address may hold open at once; over it: 429 and close; -1 for no limit [env PAAS_ROUTER_MAX_CONNS_PER_CLIENT]")
	fs.Int64Var(&minBodyRate, "min-body-rate", 500, "least average pace of a request body, in bytes per second, past the first 60 s of waiting for it; -1 for none [env PAAS_ROUTER_MIN_BODY_RATE]")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

// routerAPIHosts is what "paas router" protects besides the controller's
// own list: --api-hosts, or else the host of the controller's URL.
func routerAPIHosts(list, controllerURL string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		u, err := url.Parse(controllerURL)
		if err != nil {
			return nil, fmt.Errorf("--controller: %w", err)
		}
		list = u.Hostname()
	}
	hosts, err := controller.ParseAPIHosts(strings.Split(list, ","))
	if err != nil {
		return nil, fmt.Errorf("--api-hosts: %w", err)
	}
	return hosts, nil
}
