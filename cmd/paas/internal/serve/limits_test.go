package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"paas/builder"
	"paas/controller"
)

// TestLimitsSettings: the quotas have defaults for a small shared
// install, come from flags, the environment and the config file like the
// other settings, and reach the controller and the builder as given.
func TestLimitsSettings(t *testing.T) {
	dir := t.TempDir()
	s, err := resolveWith(t, []string{"--data-dir", dir, "--config="}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(controller.Quotas{MaxMemory: 4 << 30, MaxCPU: 2000, MaxPids: 4096, MaxProcessInstances: 20, MaxAppInstances: 50, AppLimit: 10}, s.Limits.quotas()); diff != "" {
		t.Errorf("default quotas (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(builder.Limits{Memory: 2 << 30, CPUs: 2, Pids: 1024, Timeout: 30 * time.Minute}, s.Limits.build()); diff != "" {
		t.Errorf("default build limits (-want +got):\n%s", diff)
	}
	if s.Limits.InstanceMemory != 512<<20 || s.Limits.InstanceCPU != 1 || s.Limits.InstancePids != 2048 || s.Limits.BuildOutputLimit != 10<<20 {
		t.Errorf("default instance limits = %s %g %d, output %s; want 512M 1 2048, 10M", s.Limits.InstanceMemory, s.Limits.InstanceCPU, s.Limits.InstancePids, s.Limits.BuildOutputLimit)
	}

	file := filepath.Join(dir, "paas.toml")
	body := "instance-max-memory = \"8G\"\nbuild_memory = 1073741824\nbuild-timeout = \"10m\"\nuser-app-limit = 3\ninstance-max-cpu = 4\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = resolveWith(t, []string{"--data-dir", dir, "--config", file, "--build-output-limit", "1.5M", "--instance-memory", "1GiB"},
		map[string]string{"PAAS_MAX_PROCESS_INSTANCES": "5", "PAAS_BUILD_PIDS": "256", "PAAS_INSTANCE_CPU": "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(controller.Quotas{MaxMemory: 8 << 30, MaxCPU: 4000, MaxPids: 4096, MaxProcessInstances: 5, MaxAppInstances: 50, AppLimit: 3}, s.Limits.quotas()); diff != "" {
		t.Errorf("quotas from file and env (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(builder.Limits{Memory: 1 << 30, CPUs: 2, Pids: 256, Timeout: 10 * time.Minute}, s.Limits.build()); diff != "" {
		t.Errorf("build limits from file and env (-want +got):\n%s", diff)
	}
	if s.Limits.BuildOutputLimit != 3<<19 || s.Limits.InstanceMemory != 1<<30 || millicores(s.Limits.InstanceCPU) != 500 {
		t.Errorf("flags: output %d, instance memory %d, cpu %g; want 1.5M, 1G, 0.5", s.Limits.BuildOutputLimit, s.Limits.InstanceMemory, s.Limits.InstanceCPU)
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--instance-memory", "lots"}, `invalid size "lots"`},
		{[]string{"--build-memory", "-1G"}, `invalid size "-1G"`},
		{[]string{"--build-memory", "1M"}, "build-memory must be at least 16M"},
		{[]string{"--instance-memory", "8G"}, "instance-memory (8G) is above instance-max-memory (4G)"},
		{[]string{"--instance-cpu", "3"}, "instance-cpu (3) is above instance-max-cpu (2)"},
		{[]string{"--build-cpu", "0"}, "build-cpu must be between 0.01 and 64 cores"},
		{[]string{"--build-pids", "2"}, "instance-pids, instance-max-pids and build-pids must be at least 16"},
		{[]string{"--instance-pids", "8192"}, "instance-pids (8192) is above instance-max-pids (4096)"},
		{[]string{"--max-process-instances", "0"}, "max-process-instances must be between 1 and 1000"},
		{[]string{"--user-app-limit", "-1"}, "max-app-instances and user-app-limit cannot be negative"},
		{[]string{"--build-timeout", "5s"}, "build-timeout must be at least 1m"},
		{[]string{"--build-output-limit", "1K"}, "build-output-limit must be at least 64K"},
	}
	for _, b := range bad {
		_, err := resolveWith(t, append([]string{"--data-dir", dir, "--config="}, b.args...), nil)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("resolve(%v) = %v; want an error containing %q", b.args, err, b.want)
		}
	}
}

// TestExampleConfig: deploy/paas.toml.example is a config file paas
// server accepts, and its limits are the defaults it says they are.
func TestExampleConfig(t *testing.T) {
	dir := t.TempDir()
	def, err := resolveWith(t, []string{"--data-dir", dir, "--config="}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := resolveWith(t, []string{"--data-dir", dir, "--config", "../../../../deploy/paas.toml.example"}, nil)
	if err != nil {
		t.Fatalf("the example config: %v", err)
	}
	if diff := cmp.Diff(def.Limits, ex.Limits); diff != "" {
		t.Errorf("limits of the example config vs the defaults (-want +got):\n%s", diff)
	}
}
