// Package paas is a Kubernetes-free, Docker-free platform-as-a-service:
// git push to deploy, containerd to run, one binary. This package holds
// no code; its tests check the layout rules every package follows. See
// README.md and the packages' own docs.
package paas
