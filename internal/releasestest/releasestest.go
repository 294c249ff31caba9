// Package releasestest serves a local releases site for tests: terraform
// laid out like releases.hashicorp.com and OpenTofu like its GitHub
// releases, with SHA256SUMS signed by an OpenPGP key made for the test, and
// counts what is downloaded. It needs no network.
package releasestest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// Mirror is a local releases site: terraform laid out like
// releases.hashicorp.com (/terraform/index.json, /terraform/V/index.json,
// the zip, terraform_V_SHA256SUMS and its detached signature .sig), and
// OpenTofu laid out like its GitHub releases under /tofu (/tofu/vV/ with
// the zip, tofu_V_SHA256SUMS and .gpgsig, and /tofu/api.json listing the
// versions as get.opentofu.org does). Each zip holds a script that
// prints "Terraform vV" (or "OpenTofu vV") for `version`.
type Mirror struct {
	srv *httptest.Server
	// Key is the armored public key that signs the SHA256SUMS files.
	Key string

	mu    sync.Mutex        // guards files, hits, tfVersions, tofuVersions and zipDelay
	files map[string][]byte // by URL path
	hits  map[string]int    // GETs by URL path
	// tfVersions are the entries of /terraform/index.json, tofuVersions
	// those of /tofu/api.json (OpenTofu's format).
	tfVersions   map[string]json.RawMessage
	tofuVersions []map[string]any
	// zipDelay holds every zip download back, so concurrent requests overlap.
	zipDelay time.Duration
	// zips counts zip downloads.
	zips atomic.Int64
}

// Options change what the mirror serves for a version.
type Options struct {
	// Claims is the version the binary says it is (default: the version).
	Claims string
	// Tamper serves other bytes than the checksummed zip.
	Tamper bool
	// OtherSigner signs the SHA256SUMS with a key the client does not trust.
	OtherSigner bool
}

// New starts a mirror that serves nothing yet; the test's cleanup stops it.
func New(t testing.TB) *Mirror {
	t.Helper()
	m := &Mirror{files: map[string][]byte{}, hits: map[string]int{}, tfVersions: map[string]json.RawMessage{}}
	m.Key = armoredPublicKey(t, signer(t))
	m.srv = httptest.NewServer(http.HandlerFunc(m.serve))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *Mirror) serve(w http.ResponseWriter, req *http.Request) {
	m.mu.Lock()
	b, ok := m.files[req.URL.Path]
	m.hits[req.URL.Path]++
	delay := m.zipDelay
	m.mu.Unlock()
	if !ok {
		http.NotFound(w, req)
		return
	}
	switch {
	case strings.HasSuffix(req.URL.Path, ".json"):
		w.Header().Set("Content-Type", "application/json")
	case strings.HasSuffix(req.URL.Path, ".zip"):
		m.zips.Add(1)
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/zip")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	// As releases.hashicorp.com does: hc-install compares it with what it read.
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// URL is the mirror's terraform site (--tf-download-url).
func (m *Mirror) URL() string { return m.srv.URL }

// TofuURL is the mirror's OpenTofu site (--tofu-download-url).
func (m *Mirror) TofuURL() string { return m.srv.URL + "/tofu" }

// Zips is how many zips were downloaded.
func (m *Mirror) Zips() int64 { return m.zips.Load() }

// SetZipDelay holds every later zip download back d, so that concurrent
// requests overlap.
func (m *Mirror) SetZipDelay(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.zipDelay = d
}

// Hits is how many GETs asked for URL path p.
func (m *Mirror) Hits(p string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits[p]
}

// Set serves b at URL path p.
func (m *Mirror) Set(p string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[p] = b
}

// testSigner is the key of every mirror: generating one costs a second or so.
var testSigner = sync.OnceValues(func() (*openpgp.Entity, error) {
	return openpgp.NewEntity("Atoll test releases", "", "releases@atoll.test", nil)
})

var otherSigner = sync.OnceValues(func() (*openpgp.Entity, error) {
	return openpgp.NewEntity("Someone else", "", "mallory@atoll.test", nil)
})

func signer(t testing.TB) *openpgp.Entity {
	t.Helper()
	e, err := testSigner()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func armoredPublicKey(t testing.TB, e *openpgp.Entity) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// ZipOf returns a zip holding files (name → content), each mode 0755.
func ZipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o755)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// VersionScript is a stand-in binary: it prints banner and version for
// `version`, as terraform and tofu do.
func VersionScript(banner, v string) string {
	return fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = version ]; then echo '%s v%s'; echo 'on %s_%s'; exit 0; fi\necho \"ran $*\"\n", banner, v, runtime.GOOS, runtime.GOARCH)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (m *Mirror) sign(t testing.TB, data []byte, other bool) []byte {
	t.Helper()
	e := signer(t)
	if other {
		var err error
		if e, err = otherSigner(); err != nil {
			t.Fatal(err)
		}
	}
	var sig bytes.Buffer
	if err := openpgp.DetachSign(&sig, e, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	return sig.Bytes()
}

// AddTerraform publishes terraform v (a script that prints its version)
// and rewrites the index.
func (m *Mirror) AddTerraform(t testing.TB, v string, o Options) {
	t.Helper()
	claims := o.Claims
	if claims == "" {
		claims = v
	}
	z := ZipOf(t, map[string]string{"terraform": VersionScript("Terraform", claims), "LICENSE.txt": "test licence\n"})
	served := z
	if o.Tamper {
		served = ZipOf(t, map[string]string{"terraform": "#!/bin/sh\necho pwned\n"})
	}
	m.publishTerraform(t, v, z, served, o.OtherSigner)
}

// publishTerraform publishes zip z as terraform v, serving the bytes served
// (z, or a tampered zip), its SHA256SUMS signed by the mirror's key (or
// another one), and rewrites the index.
func (m *Mirror) publishTerraform(t testing.TB, v string, z, served []byte, otherSigner bool) {
	t.Helper()
	zipName := fmt.Sprintf("terraform_%s_%s_%s.zip", v, runtime.GOOS, runtime.GOARCH)
	sums := []byte(fmt.Sprintf("%s  %s\n%s  terraform_%s_windows_amd64.zip\n", sha256Hex(z), zipName, sha256Hex([]byte("x")), v))
	dir := "/terraform/" + v + "/"
	sumsName := "terraform_" + v + "_SHA256SUMS"
	m.Set(dir+zipName, served)
	m.Set(dir+sumsName, sums)
	m.Set(dir+sumsName+".sig", m.sign(t, sums, otherSigner))
	pv := map[string]any{
		"name": "terraform", "version": v, "shasums": sumsName,
		"shasums_signature": sumsName + ".sig", "shasums_signatures": []string{sumsName + ".sig"},
		"builds": []map[string]string{{"name": "terraform", "version": v, "os": runtime.GOOS, "arch": runtime.GOARCH,
			"filename": zipName, "url": "https://releases.hashicorp.com" + dir + zipName}},
	}
	b, err := json.Marshal(pv)
	if err != nil {
		t.Fatal(err)
	}
	m.Set(dir+"index.json", b)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tfVersions[v] = b
	idx, err := json.Marshal(map[string]any{"name": "terraform", "versions": m.tfVersions})
	if err != nil {
		t.Fatal(err)
	}
	m.files["/terraform/index.json"] = idx
}

// AddTerraformBinary publishes the real terraform binary at bin as version
// v, stored uncompressed (zipping 95 MB would dominate the test).
func (m *Mirror) AddTerraformBinary(t testing.TB, v, bin string) {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "terraform", Method: zip.Store}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	m.publishTerraform(t, v, buf.Bytes(), buf.Bytes(), false)
}

// AddTofu publishes an OpenTofu version under /tofu, laid out like its
// GitHub releases.
func (m *Mirror) AddTofu(t testing.TB, v string, o Options) {
	t.Helper()
	zipName := fmt.Sprintf("tofu_%s_%s_%s.zip", v, runtime.GOOS, runtime.GOARCH)
	z := ZipOf(t, map[string]string{"tofu": VersionScript("OpenTofu", v), "README.md": "readme\n", "CHANGELOG.md": "changes\n"})
	sums := []byte(fmt.Sprintf("%s  tofu_%s_darwin_arm64.tar.gz\n%s  %s\n", sha256Hex([]byte("y")), v, sha256Hex(z), zipName))
	served := z
	if o.Tamper {
		served = ZipOf(t, map[string]string{"tofu": "#!/bin/sh\necho pwned\n"})
	}
	dir := "/tofu/v" + v + "/"
	m.mu.Lock()
	m.tofuVersions = append(m.tofuVersions, map[string]any{"id": v, "files": []string{zipName, "tofu_" + v + "_SHA256SUMS"}})
	idx, err := json.Marshal(map[string]any{"versions": m.tofuVersions})
	m.files["/tofu/api.json"] = idx
	m.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	m.Set(dir+zipName, served)
	m.Set(dir+"tofu_"+v+"_SHA256SUMS", sums)
	m.Set(dir+"tofu_"+v+"_SHA256SUMS.gpgsig", m.sign(t, sums, o.OtherSigner))
}
