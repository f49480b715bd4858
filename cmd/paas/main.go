// Command paas is both the paas CLI and the paas server ("paas server").
// main only gathers the process's environment and wires the two together.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"paas/cmd/paas/internal/cli"
	"paas/cmd/paas/internal/serve"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := cli.Env{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
	}
	code := cli.Main(ctx, env, os.Args[1:], serve.Command(os.LookupEnv), serve.RouterCommand(os.LookupEnv),
		serve.StackCommand(os.LookupEnv), serve.BuildCommand(os.LookupEnv), serve.DoctorCommand(os.LookupEnv),
		serve.LogDriverCommand())
	stop()
	os.Exit(code)
}
