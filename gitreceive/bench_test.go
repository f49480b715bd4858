package gitreceive

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkPush times "git push" of a code-only change to a small app, from
// the start of git push to the ref update, split into what the server spent
// receiving (advertise, commands, pack stored) and deploying (here: the tar
// of the tree read to its end, as the controller's deploy step would read
// it; the build and rollout are the controller's). The peer is the same
// push by the system git to a bare repository on the local file system —
// no SSH, no deploy — in the same loop.
func BenchmarkPush(b *testing.B) {
	e := newEnv(b, nil)
	key := e.newKey("alice", "alice")
	e.addApp("shop", "alice")
	wt := e.worktree("shop", "shop")
	peer := filepath.Join(e.dir, "peer.git")
	e.mustGit(e.dir, "", "init", "-q", "--bare", peer)
	e.mustGit(wt, "", "remote", "add", "peer", peer)
	files := map[string]string{"Procfile": "web: ./server\n", "go.mod": "module shop\n"}
	for i := range 50 {
		files[fmt.Sprintf("pkg/p%d/p.go", i)] = fmt.Sprintf("package p%d\n\nfunc F() int { return %d }\n", i, i)
	}
	e.commit(wt, "app", files)
	e.mustGit(wt, key, "push", "-q", "paas", "main")
	e.mustGit(wt, key, "push", "-q", "peer", "main")
	e.ctl.deploy = func(context.Context, DeployRequest, map[string]tarEntry) error { return nil }

	var paas, local, receive, deploy time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.commit(wt, "change", map[string]string{"main.go": fmt.Sprintf("package main\n\nconst v = %d\n", i)})
		t0 := time.Now()
		e.mustGit(wt, key, "push", "-q", "paas", "main")
		paas += time.Since(t0)
		r, d := pushTimes(e.logs.String())
		receive += r
		deploy += d
		t0 = time.Now()
		e.mustGit(wt, "", "push", "-q", "peer", "main")
		local += time.Since(t0)
	}
	n := float64(b.N)
	b.ReportMetric(float64(paas.Milliseconds())/n, "paas-ms/push")
	b.ReportMetric(float64(receive.Microseconds())/1000/n, "receive-ms/push")
	b.ReportMetric(float64(deploy.Microseconds())/1000/n, "deploy-ms/push")
	b.ReportMetric(float64(local.Milliseconds())/n, "peer-ms/push")
	b.ReportMetric(float64(paas)/float64(local), "x-peer")
}

// pushTimes reads receive= and deploy= of the last push from the log.
func pushTimes(log string) (receive, deploy time.Duration) {
	for _, f := range strings.Fields(pushLog(log)) {
		k, v, _ := strings.Cut(f, "=")
		d, _ := time.ParseDuration(v)
		switch k {
		case "receive":
			receive = d
		case "deploy":
			deploy = d
		}
	}
	return receive, deploy
}
