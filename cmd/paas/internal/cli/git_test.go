package cli

import "testing"

func TestAppFromRemote(t *testing.T) {
	tests := []struct {
		url     string
		want    string
		wantErr bool
	}{
		{url: "ssh://git@paas.example.com:2222/shop.git", want: "shop"},
		{url: "ssh://git@paas.example.com:2222/shop", want: "shop"},
		{url: "ssh://git@localhost/my-app-2.git", want: "my-app-2"},
		{url: "git@paas.example.com:shop.git", want: "shop"},
		{url: "git@paas.example.com:/shop.git", want: "shop"},
		{url: "paas.example.com:shop", want: "shop"},
		{url: "https://paas.example.com/shop.git", want: "shop"},
		{url: "ssh://git@host:2222/org/shop.git", wantErr: true},
		{url: "ssh://git@host:2222/Shop.git", wantErr: true},
		{url: "ssh://git@host:2222/", wantErr: true},
		{url: "git@host:", wantErr: true},
		{url: "/srv/git/shop.git", wantErr: true},
		{url: "./shop.git", wantErr: true},
		{url: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := appFromRemote(tt.url)
			if (err != nil) != tt.wantErr {
				t.Fatalf("appFromRemote(%q) error = %v, want error %v", tt.url, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("appFromRemote(%q) = %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}
