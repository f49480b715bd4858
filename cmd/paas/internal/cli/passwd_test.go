package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// TestUsersPasswd: an admin sets a user's password from one line of
// standard input (never from the command line); the user can then sign in
// to the dashboard with it; --remove takes it away.
func TestUsersPasswd(t *testing.T) {
	srv := newTestServer(t)
	srv.newUser(t, "alice")
	env := map[string]string{"HOME": t.TempDir()}
	if r := runCLI(t, env, "", "login", srv.URL, "--token", srv.Token); r.Code != 0 {
		t.Fatalf("login: %+v", r)
	}
	signIn := func(password string) int {
		t.Helper()
		body, _ := json.Marshal(map[string]string{"username": "alice", "password": password})
		resp, err := http.Post(srv.URL+"/v1/sessions", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if r := runCLI(t, env, "", "users:passwd", "alice"); r.Code != 1 || r.Stderr != "error: no password given: type it at the prompt or pipe it as one line of stdin\n" {
		t.Errorf("users:passwd with empty stdin = %+v", r)
	}
	if r := runCLI(t, env, "short\n", "users:passwd", "alice"); r.Code != 1 || r.Stderr != "error: the password is too short: use at least 8 characters\n" {
		t.Errorf("users:passwd with a short password = %+v", r)
	}
	r := runCLI(t, env, "  alice's pass phrase  \n", "users:passwd", "alice")
	if r.Code != 0 || r.Stdout != "Set the password of alice\n" {
		t.Errorf("users:passwd = %+v", r)
	}
	if got := signIn("  alice's pass phrase  "); got != http.StatusCreated {
		t.Errorf("sign in with the password as typed (spaces kept) = %d, want 201", got)
	}
	if got := srv.changes(t); len(got) == 0 || got[len(got)-2] != "admin user.password password set for alice" {
		t.Errorf("audit = %q, want the password change (and the session)", got)
	}
	if r := runCLI(t, env, "", "users:passwd", "alice", "--remove"); r.Code != 0 {
		t.Errorf("users:passwd --remove = %+v", r)
	}
	if got := signIn("  alice's pass phrase  "); got != http.StatusUnauthorized {
		t.Errorf("sign in after the password was removed = %d, want 401", got)
	}
	if r := runCLI(t, env, "long enough password\n", "users:passwd", "nobody-here"); r.Code != 1 || r.Stderr != "error: no user named nobody-here\n" {
		t.Errorf("users:passwd of an unknown user = %+v", r)
	}
}
