package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A minimal client of the W3C WebDriver protocol as chromedriver speaks it:
// just the calls the dashboard test makes, as plain JSON over HTTP.

// elementKey is the W3C name of an element reference in JSON.
const elementKey = "element-6066-11e4-a52e-4f735466cecf"

type browser struct {
	t       *testing.T
	base    string // http://127.0.0.1:PORT/session/ID
	session string
	hc      *http.Client
}

// chromeFlags start Chromium headless, with nothing that talks to the
// network on its own.
var chromeFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
	"--hide-scrollbars", "--window-size=1280,1000",
}

// findChromium returns the paths of chromium and chromedriver. When either is
// missing the test fails under CI=true and is skipped otherwise.
func findChromium(t *testing.T) (chromium, driver string) {
	t.Helper()
	var missing []string
	for _, name := range []string{"chromium", "chromedriver"} {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
			continue
		}
		if name == "chromium" {
			chromium = p
		} else {
			driver = p
		}
	}
	if len(missing) > 0 {
		why := fmt.Sprintf("%s not found: install the Debian packages chromium and chromium-driver (tests/run.sh does)", strings.Join(missing, " and "))
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	return chromium, driver
}

// startBrowser starts chromedriver and a Chromium session in a new, empty
// profile; both end with the test.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	chromium, driver := findChromium(t)

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, driver, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	cmd.Stdout, cmd.Stderr = &out, &out
	// chromedriver and the browser it starts share a process group of their
	// own, so that ending the test ends all of them; chromedriver also dies
	// with the test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start chromedriver: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("chromedriver output:\n%s", out.String())
		}
	})

	b := &browser{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port), hc: &http.Client{Timeout: 60 * time.Second}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := b.call("GET", "/status", nil, &st); err == nil && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver did not become ready on port %d:\n%s", port, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	args := append(append([]string{}, chromeFlags...), "--user-data-dir="+t.TempDir())
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName":        "chrome",
		"goog:chromeOptions": map[string]any{"binary": chromium, "args": args},
		"goog:loggingPrefs":  map[string]string{"browser": "ALL"},
	}}}
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("POST", "/session", caps, &sess); err != nil {
		t.Fatalf("new browser session: %v", err)
	}
	b.session = sess.SessionID
	b.base += "/session/" + sess.SessionID
	t.Cleanup(func() {
		if err := b.call("DELETE", "", nil, nil); err != nil {
			t.Logf("closing the browser: %v", err)
		}
	})
	return b
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// call makes one WebDriver call and decodes its "value" into out.
func (b *browser) call(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		j, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, raw)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(env.Value, &e)
		return fmt.Errorf("%s %s: %s: %s", method, path, e.Error, firstLine(e.Message))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(env.Value, out)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (b *browser) must(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}

// open loads url in the browser.
func (b *browser) open(url string) {
	b.t.Helper()
	b.must(b.call("POST", "/url", map[string]string{"url": url}, nil))
}

// exec runs script in the page and decodes its result into out.
func (b *browser) exec(out any, script string, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return b.call("POST", "/execute/sync", map[string]any{"script": script, "args": args}, out)
}

// find waits for an element matching css and returns its reference.
func (b *browser) find(css string) string {
	b.t.Helper()
	var id string
	b.waitFor("element "+css, func() (bool, string) {
		var ref map[string]string
		if err := b.call("POST", "/element", map[string]string{"using": "css selector", "value": css}, &ref); err != nil {
			return false, err.Error()
		}
		id = ref[elementKey]
		return id != "", fmt.Sprintf("answer %v", ref)
	})
	return id
}

// click clicks the element matching css, finding it again if the page
// redrew it in between.
func (b *browser) click(css string) {
	b.t.Helper()
	b.waitFor("a click on "+css, func() (bool, string) {
		err := b.call("POST", "/element/"+b.find(css)+"/click", map[string]any{}, nil)
		if err != nil && strings.Contains(err.Error(), "stale element") {
			return false, err.Error()
		}
		b.must(err)
		return true, ""
	})
}

// typeInto replaces the text of the input matching css with text.
func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	el := b.find(css)
	b.must(b.call("POST", "/element/"+el+"/clear", map[string]any{}, nil))
	b.must(b.call("POST", "/element/"+el+"/value", map[string]string{"text": text}, nil))
}

// text returns the text content of the first element matching css, or ""
// if there is none.
func (b *browser) text(css string) string {
	b.t.Helper()
	var s *string
	b.must(b.exec(&s, `const e = document.querySelector(arguments[0]); return e ? e.textContent : null;`, css))
	if s == nil {
		return ""
	}
	return *s
}

// waitText waits until the text of the element matching css contains want.
func (b *browser) waitText(css, want string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%q in %s", want, css), func() (bool, string) {
		got := b.text(css)
		return strings.Contains(got, want), fmt.Sprintf("text is %q", got)
	})
}

// waitFor polls cond for up to 15 s; cond returns whether it holds and, if
// not, what it saw instead.
func (b *browser) waitFor(what string, cond func() (bool, string)) {
	b.t.Helper()
	b.waitForD(15*time.Second, what, cond)
}

// waitForD is waitFor with a deadline of d.
func (b *browser) waitForD(d time.Duration, what string, cond func() (bool, string)) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %v for %s: %s", d, what, saw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// resize sets the size of the browser window in CSS pixels.
func (b *browser) resize(width, height int) {
	b.t.Helper()
	b.must(b.call("POST", "/window/rect", map[string]int{"width": width, "height": height}, nil))
}

// screenshot saves a PNG of the viewport as dir/name.
func (b *browser) screenshot(dir, name string) string {
	b.t.Helper()
	var data string
	b.must(b.call("GET", "/screenshot", nil, &data))
	png, err := base64.StdEncoding.DecodeString(data)
	b.must(err)
	p := filepath.Join(dir, name)
	b.must(os.WriteFile(p, png, 0o644))
	return p
}

// consoleLog returns the browser console's entries since the last call.
func (b *browser) consoleLog() []string {
	b.t.Helper()
	var entries []struct {
		Level   string `json:"level"`
		Message string `json:"message"`
	}
	b.must(b.call("POST", "/se/log", map[string]string{"type": "browser"}, &entries))
	var out []string
	for _, e := range entries {
		out = append(out, e.Level+": "+e.Message)
	}
	return out
}

// execAsync runs script in the page; the script ends by calling its last
// argument with the result, which is decoded into out.
func (b *browser) execAsync(out any, script string, args ...any) error {
	if args == nil {
		args = []any{}
	}
	return b.call("POST", "/execute/async", map[string]any{"script": script, "args": args}, out)
}

// url returns the page's current URL.
func (b *browser) url() string {
	b.t.Helper()
	var u string
	b.must(b.call("GET", "/url", nil, &u))
	return u
}

// wdCookie is a cookie as WebDriver reports it, HttpOnly ones included.
type wdCookie struct {
	Name     string `json:"name"`
	Value    string `json:"value"`
	HTTPOnly bool   `json:"httpOnly"`
	Secure   bool   `json:"secure"`
	SameSite string `json:"sameSite"`
}

// cookie returns the page's cookie of that name.
func (b *browser) cookie(name string) wdCookie {
	b.t.Helper()
	var c wdCookie
	b.must(b.call("GET", "/cookie/"+name, nil, &c))
	return c
}

// artifactDir is where a test saves its screenshots: under
// $PAAS_TEST_ARTIFACTS/<test name> when that is set (so they outlive the
// run), else the test's artifact directory (go test -artifacts keeps it).
func artifactDir(t *testing.T) string {
	t.Helper()
	root := os.Getenv("PAAS_TEST_ARTIFACTS")
	if root == "" {
		return t.ArtifactDir()
	}
	dir := filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}
