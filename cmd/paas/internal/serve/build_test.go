package serve

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHostDownloadDefaults(t *testing.T) {
	host := func(ctx context.Context, name string, args ...string) string {
		switch name + " " + strings.Join(args, " ") {
		case "npm config get registry":
			return "http://npm.test.invalid/"
		case "pip3 config get global.index-url":
			return "" // not configured: pip exits non-zero
		}
		t.Errorf("unexpected host command %s %v", name, args)
		return ""
	}
	tests := []struct {
		name string
		set  Settings
		env  map[string]string
		want map[string]string
	}{
		{name: "host config", want: map[string]string{"npm_config_registry": "http://npm.test.invalid/"}},
		{name: "environment", env: map[string]string{"GOPROXY": "http://go.test.invalid", "npm_config_registry": "https://env.test.invalid/npm/", "PIP_INDEX_URL": "http://pip.test.invalid/simple/"},
			want: map[string]string{"GOPROXY": "http://go.test.invalid", "npm_config_registry": "https://env.test.invalid/npm/", "PIP_INDEX_URL": "http://pip.test.invalid/simple/"}},
		{name: "settings win", set: Settings{NPMRegistry: "http://set.test.invalid/", PipIndexURL: "http://set.test.invalid/simple/"},
			env:  map[string]string{"npm_config_registry": "https://env.test.invalid/", "PIP_INDEX_URL": "http://env.test.invalid/simple/"},
			want: map[string]string{"npm_config_registry": "http://set.test.invalid/", "PIP_INDEX_URL": "http://set.test.invalid/simple/"}},
		{name: "not a URL", env: map[string]string{"PIP_INDEX_URL": "undefined", "npm_config_registry": "file:/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.set
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			run := host
			if tt.env["npm_config_registry"] != "" {
				run = func(ctx context.Context, name string, args ...string) string { return "" }
			}
			s.hostDownloadDefaults(context.Background(), lookup, run)
			if diff := cmp.Diff(tt.want, s.buildEnv()); diff != "" {
				t.Errorf("buildEnv (-want +got):\n%s", diff)
			}
		})
	}
}
