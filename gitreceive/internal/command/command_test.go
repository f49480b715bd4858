package command

import (
	"errors"
	"strings"
	"testing"

	"paas/controller"
)

func TestParse(t *testing.T) {
	tests := []struct {
		line    string
		want    Command
		wantErr error
	}{
		{line: "git-receive-pack 'shop.git'", want: Command{Service: ReceivePack, App: "shop"}},
		{line: "git-receive-pack '/shop.git'", want: Command{Service: ReceivePack, App: "shop"}},
		{line: "git-receive-pack shop", want: Command{Service: ReceivePack, App: "shop"}},
		{line: "git-receive-pack /shop", want: Command{Service: ReceivePack, App: "shop"}},
		{line: "git-upload-pack 'my-app-2.git'", want: Command{Service: UploadPack, App: "my-app-2"}},
		{line: "git upload-pack 'shop.git'", want: Command{Service: UploadPack, App: "shop"}},
		{line: "  git-receive-pack   'shop.git'  ", want: Command{Service: ReceivePack, App: "shop"}},
		{line: "run shop -- sh -c 'echo $PAAS_PROCESS; exit 3'", want: Command{Service: Run, App: "shop", Args: "sh -c 'echo $PAAS_PROCESS; exit 3'"}},
		{line: "run shop bin/migrate --fast", want: Command{Service: Run, App: "shop", Args: "bin/migrate --fast"}},
		{line: "run shop", want: Command{Service: Run, App: "shop"}},
		{line: "run shop --", want: Command{Service: Run, App: "shop"}},
		{line: "run ../etc -- sh", wantErr: ErrPath},
		{line: "run Shop sh", wantErr: ErrPath},
		{line: "", wantErr: ErrCommand},
		{line: "rm -rf /", wantErr: ErrCommand},
		{line: "git-upload-archive 'shop.git'", wantErr: ErrCommand},
		{line: "git-receive-pack", wantErr: ErrPath},
		{line: "git-receive-pack ''", wantErr: ErrPath},
		{line: "git-receive-pack '../etc.git'", wantErr: ErrPath},
		{line: "git-receive-pack '/etc/passwd'", wantErr: ErrPath},
		{line: "git-receive-pack 'shop.git'; rm -rf /", wantErr: ErrPath},
		{line: "git-receive-pack 'shop.git' extra", wantErr: ErrPath},
		{line: "git-receive-pack \"shop.git\"", wantErr: ErrPath},
		{line: "git-receive-pack 'sh'op.git'", wantErr: ErrPath},
		{line: "git-receive-pack $(id)", wantErr: ErrPath},
		{line: "git-receive-pack 'Shop.git'", wantErr: ErrPath},
		{line: "git-receive-pack '~/shop.git'", wantErr: ErrPath},
		{line: "git-receive-pack 'org/shop.git'", wantErr: ErrPath},
		{line: "git-receive-pack 'shop.git.git'", wantErr: ErrPath},
		{line: "git-receive-pack 'a234567890123456789012345678901.git'", wantErr: ErrPath},
		{line: "git-receive-pack '" + strings.Repeat("a", 300) + "'", wantErr: ErrCommand},
		{line: "git-receive-pack 'shop\x00.git'", wantErr: ErrPath},
	}
	for _, tt := range tests {
		got, err := Parse(tt.line)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Parse(%q) = %v, %v; want error %v", tt.line, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tt.line, got, err, tt.want)
		}
	}
}

// FuzzParseCommand: whatever the line, Parse either refuses it or names a
// known service and a valid app, and its messages stay printable.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"git-receive-pack 'shop.git'", "git-upload-pack '/a.git'", "git receive-pack x", "rm -rf /", "git-receive-pack '../etc.git'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := Parse(line)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\x00\n\r\x1b") {
				t.Errorf("Parse(%q) error %q holds control characters", line, err)
			}
			return
		}
		if c.Service != ReceivePack && c.Service != UploadPack {
			t.Errorf("Parse(%q).Service = %q", line, c.Service)
		}
		if err := controller.ValidateAppName(c.App); err != nil {
			t.Errorf("Parse(%q).App = %q: %v", line, c.App, err)
		}
		if !strings.Contains(line, c.App) {
			t.Errorf("Parse(%q).App = %q, not in the line", line, c.App)
		}
	})
}
