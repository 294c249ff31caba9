package runner

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atollhq/atoll/internal/releasestest"
	"github.com/atollhq/atoll/internal/testenv"
)

// newDownloadRunner returns a Runner that downloads from m, with no
// terraform or tofu on its PATH. cfg's zero fields get those defaults.
func newDownloadRunner(t *testing.T, m *releasestest.Mirror, cfg Config) *Runner {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Git = testenv.Git(t)
	if cfg.Env == nil {
		cfg.Env = []string{"PATH=" + t.TempDir()}
	}
	if m != nil {
		cfg.TerraformDownloadURL = m.URL()
		cfg.TofuDownloadURL = m.TofuURL() + "/"
		if cfg.TerraformDownloadKey == "" {
			cfg.TerraformDownloadKey = m.Key
		}
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// versionOf runs bin version and returns its first line.
func versionOf(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", bin, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return line
}

// TestDownloadTerraform: a missing version is downloaded from the mirror
// (signature and checksum checked by hc-install), cached under the data
// dir with a manifest, and used from the cache afterwards, by this runner
// and by a new one on the same data dir.
func TestDownloadTerraform(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTerraform(t, "1.6.9", releasestest.Options{})
	r := newDownloadRunner(t, m, Config{Download: true})
	start := time.Now()
	bin, err := r.Binary("terraform", "1.6.9")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("downloaded and installed in %s", time.Since(start).Round(time.Millisecond))
	if want := filepath.Join(r.dataDir, "bin", "terraform", "1.6.9", "terraform"); bin != want {
		t.Errorf("binary at %s, want %s", bin, want)
	}
	if got := versionOf(t, bin); got != "Terraform v1.6.9" {
		t.Errorf("the installed binary says %q", got)
	}
	entries, err := os.ReadDir(filepath.Dir(bin))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "manifest.json,terraform" {
		t.Errorf("version dir holds %v, want the binary and its manifest only (no licence, no zip)", names)
	}
	for _, d := range []string{filepath.Join(r.dataDir, "bin"), filepath.Join(r.dataDir, "bin", "terraform")} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, %v; want 0700", d, fi.Mode().Perm(), err)
		}
	}
	if err := verifyManifest(filepath.Dir(bin), productTerraform, "1.6.9"); err != nil {
		t.Errorf("manifest: %v", err)
	}
	if again, err := r.Binary("", "v1.6.9"); err != nil || again != bin {
		t.Errorf("second Binary = %q, %v", again, err)
	}
	r2 := newDownloadRunner(t, m, Config{DataDir: r.dataDir, Download: true})
	if again, err := r2.Binary("terraform", "1.6.9"); err != nil || again != bin {
		t.Errorf("a new runner on the data dir: Binary = %q, %v", again, err)
	}
	if n := m.Zips(); n != 1 {
		t.Errorf("%d zip downloads, want 1", n)
	}
}

// TestDownloadLeftovers: what an install of the version that died
// half-way left is removed; another version's install in progress is not.
func TestDownloadLeftovers(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTerraform(t, "1.6.9", releasestest.Options{})
	r := newDownloadRunner(t, m, Config{Download: true})
	dir := filepath.Join(r.dataDir, "bin", "terraform")
	stale := []string{filepath.Join(dir, ".install-1.6.9_123"), filepath.Join(dir, ".remove-1.6.9_456")}
	other := filepath.Join(dir, ".install-1.6.9-rc1_789")
	for _, d := range append(slices.Clone(stale), other) {
		if err := os.MkdirAll(filepath.Join(d, "unpack"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Binary("terraform", "1.6.9"); err != nil {
		t.Fatal(err)
	}
	for _, d := range stale {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s is still there (%v)", d, err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another version's install was removed: %v", err)
	}
}

// TestDownloadRefusesUnverified: a zip that does not match the signed
// checksums, checksums signed by another key, and a signed release of
// another version served under this one are refused, and nothing is cached.
func TestDownloadRefusesUnverified(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTerraform(t, "1.6.1", releasestest.Options{Tamper: true})
	m.AddTerraform(t, "1.6.2", releasestest.Options{OtherSigner: true})
	m.AddTerraform(t, "1.6.3", releasestest.Options{Claims: "1.5.0"})
	r := newDownloadRunner(t, m, Config{Download: true})
	for _, tc := range []struct{ version, want string }{
		{"1.6.1", "checksum mismatch"},
		{"1.6.2", "signature"},
		{"1.6.3", "is version 1.5.0; refusing it"},
	} {
		bin, err := r.Binary("terraform", tc.version)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("terraform %s: Binary = %q, %v; want an error containing %q", tc.version, bin, err, tc.want)
		}
		if _, err := os.Stat(filepath.Join(r.dataDir, "bin", "terraform", tc.version)); !os.IsNotExist(err) {
			t.Errorf("terraform %s: something was cached (%v)", tc.version, err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(r.dataDir, "bin", "terraform", ".*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary directories left behind: %v", leftovers)
	}
	// The default key (HashiCorp's) does not sign the test mirror either.
	r2 := newDownloadRunner(t, nil, Config{Download: true, TerraformDownloadURL: m.URL()})
	m.AddTerraform(t, "1.6.9", releasestest.Options{})
	if _, err := r2.Binary("terraform", "1.6.9"); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Errorf("HashiCorp's key on the test mirror: err = %v, want a signature error", err)
	}
}

// TestDownloadCorruptCache: a cached binary that no longer matches its
// manifest (truncated, or rewritten with the same size) is downloaded again,
// by the runner that installed it and by a new one.
func TestDownloadCorruptCache(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTerraform(t, "1.6.9", releasestest.Options{})
	r := newDownloadRunner(t, m, Config{Download: true})
	bin, err := r.Binary("terraform", "1.6.9")
	if err != nil {
		t.Fatal(err)
	}
	// A partial write: half the file.
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b[:len(b)/2], 0o700); err != nil {
		t.Fatal(err)
	}
	if again, err := r.Binary("terraform", "1.6.9"); err != nil || again != bin || versionOf(t, again) != "Terraform v1.6.9" {
		t.Fatalf("after truncation: Binary = %q, %v", again, err)
	}
	if n := m.Zips(); n != 2 {
		t.Errorf("%d zip downloads after a truncation, want 2", n)
	}
	// Same size, other bytes, seen by a runner that has not verified it yet.
	evil := []byte(strings.Repeat("#", len(b)))
	copy(evil, "#!/bin/sh\necho pwned\n")
	if err := os.WriteFile(bin, evil, 0o700); err != nil {
		t.Fatal(err)
	}
	r2 := newDownloadRunner(t, m, Config{DataDir: r.dataDir, Download: true})
	if again, err := r2.Binary("terraform", "1.6.9"); err != nil || versionOf(t, again) != "Terraform v1.6.9" {
		t.Fatalf("after a same-size rewrite: Binary = %q, %v", again, err)
	}
	if n := m.Zips(); n != 3 {
		t.Errorf("%d zip downloads after a rewrite, want 3", n)
	}
	// A missing manifest is a partial install too.
	if err := os.Remove(filepath.Join(filepath.Dir(bin), manifestName)); err != nil {
		t.Fatal(err)
	}
	r3 := newDownloadRunner(t, m, Config{DataDir: r.dataDir, Download: true})
	if _, err := r3.Binary("terraform", "1.6.9"); err != nil {
		t.Fatal(err)
	}
	if n := m.Zips(); n != 4 {
		t.Errorf("%d zip downloads after losing the manifest, want 4", n)
	}
}

// TestDownloadDisabled: with downloads off, a missing version fails with
// ErrNotInstalled and a message naming the version and what to do, and the
// mirror is not asked; versions in BinDir and the cache still work.
func TestDownloadDisabled(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTerraform(t, "1.6.9", releasestest.Options{})
	binDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(binDir, "terraform1.5.7"), []byte(releasestest.VersionScript("Terraform", "1.5.7")), 0o755); err != nil {
		t.Fatal(err)
	}
	r := newDownloadRunner(t, m, Config{BinDir: binDir})
	_, err := r.Binary("terraform", "1.6.9")
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "terraform 1.6.9 is not installed") ||
		!strings.Contains(err.Error(), "--tf-download=false") || !strings.Contains(err.Error(), filepath.Join(binDir, "terraform1.6.9")) {
		t.Errorf("err = %v, want ErrNotInstalled naming 1.6.9, --tf-download=false and where to put it", err)
	}
	if _, err := r.Binary("opentofu", "1.6.2"); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "OpenTofu 1.6.2 is not installed") {
		t.Errorf("OpenTofu: err = %v", err)
	}
	if bin, err := r.Binary("terraform", "1.5.7"); err != nil || bin != filepath.Join(binDir, "terraform1.5.7") {
		t.Errorf("BinDir version: %q, %v", bin, err)
	}
	// A constraint chooses among installed versions.
	if bin, err := r.Binary("terraform", ">= 1.5, < 1.7"); err != nil || bin != filepath.Join(binDir, "terraform1.5.7") {
		t.Errorf("constraint without downloads: %q, %v", bin, err)
	}
	if _, err := r.Binary("terraform", "~> 1.6.0"); !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "installed: 1.5.7") {
		t.Errorf("unsatisfiable constraint without downloads: err = %v", err)
	}
	// Nothing installed satisfies it, but there is a default binary (here a
	// development build, which no constraint without a pre-release
	// matches): it runs, and checks required_version itself.
	dev := filepath.Join(t.TempDir(), "tofu")
	if err := os.WriteFile(dev, []byte(releasestest.VersionScript("OpenTofu", "1.6.3-dev")), 0o755); err != nil {
		t.Fatal(err)
	}
	rdev := newDownloadRunner(t, m, Config{Tofu: dev})
	if bin, err := rdev.Binary("opentofu", ">= 1.5.0"); err != nil || bin != dev {
		t.Errorf("constraint only the default binary may satisfy: %q, %v", bin, err)
	}
	if n := m.Zips() + int64(m.Hits("/terraform/index.json")); n != 0 {
		t.Errorf("the mirror was asked %d times with downloads off", n)
	}
	// Downloaded earlier, cached: used even with downloads off.
	rd := newDownloadRunner(t, m, Config{DataDir: r.dataDir, Download: true})
	if _, err := rd.Binary("terraform", "1.6.9"); err != nil {
		t.Fatal(err)
	}
	if bin, err := r.Binary("terraform", "1.6.9"); err != nil || !strings.HasPrefix(bin, r.dataDir) {
		t.Errorf("cached version with downloads off: %q, %v", bin, err)
	}
}

// TestDownloadConstraint: a constraint resolves to the newest release of
// the index that satisfies it (pre-releases only when asked for), the index
// is read once for many resolutions, and an unsatisfiable one names itself.
func TestDownloadConstraint(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	for _, v := range []string{"1.4.6", "1.5.7", "1.6.0", "1.6.9", "1.7.0-beta1", "1.7.0", "1.7.1-rc1"} {
		m.AddTerraform(t, v, releasestest.Options{})
	}
	r := newDownloadRunner(t, m, Config{Download: true})
	for _, tc := range []struct{ constraint, want string }{
		{">= 1.5, < 1.7", "1.6.9"},
		{"~> 1.6.0", "1.6.9"},
		{"~> 1.5", "1.7.0"},
		{"< 1.5.7", "1.4.6"},
		{"= 1.6.0", "1.6.0"},
		{">= 1.7.1-rc1", "1.7.1-rc1"},
	} {
		bin, err := r.Binary("terraform", tc.constraint)
		if err != nil {
			t.Errorf("%q: %v", tc.constraint, err)
			continue
		}
		if got := versionOf(t, bin); got != "Terraform v"+tc.want {
			t.Errorf("%q ran %q, want %s", tc.constraint, got, tc.want)
		}
	}
	if n := m.Hits("/terraform/index.json"); n != 1 {
		t.Errorf("the releases index was read %d times, want once", n)
	}
	if _, err := r.Binary("terraform", ">= 2.0"); err == nil || !strings.Contains(err.Error(), `no terraform release satisfies ">= 2.0"`) {
		t.Errorf(">= 2.0: err = %v", err)
	}
	if _, err := r.Binary("terraform", "1.6; rm -rf /"); err == nil || !strings.Contains(err.Error(), "is not a version") {
		t.Errorf("a bad constraint: err = %v", err)
	}
	// The index unreadable: the newest installed version that satisfies it.
	broken := newDownloadRunner(t, nil, Config{DataDir: r.dataDir, Download: true, TerraformDownloadURL: m.URL() + "/nothing-here"})
	if bin, err := broken.Binary("terraform", "~> 1.6.0"); err != nil || versionOf(t, bin) != "Terraform v1.6.9" {
		t.Errorf("index unreadable: %q, %v", bin, err)
	}
	if _, err := broken.Binary("terraform", ">= 1.8"); err == nil || !strings.Contains(err.Error(), "releases index cannot be read") {
		t.Errorf("index unreadable, nothing installed satisfies: err = %v", err)
	}
}

// TestDownloadConcurrent: ten plans asking for the same missing version at
// once, five through each of two runners sharing a data dir (two processes'
// worth), download it once.
func TestDownloadConcurrent(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTerraform(t, "1.6.9", releasestest.Options{})
	m.SetZipDelay(300 * time.Millisecond)
	a := newDownloadRunner(t, m, Config{Download: true})
	b := newDownloadRunner(t, m, Config{DataDir: a.dataDir, Download: true})
	var wg sync.WaitGroup
	bins := make([]string, 10)
	errs := make([]error, 10)
	start := time.Now()
	for i := range 10 {
		r := a
		if i%2 == 1 {
			r = b
		}
		wg.Go(func() { bins[i], errs[i] = r.Binary("terraform", "1.6.9") })
	}
	wg.Wait()
	t.Logf("10 concurrent requests served in %s", time.Since(start).Round(time.Millisecond))
	for i := range 10 {
		if errs[i] != nil || bins[i] != bins[0] {
			t.Errorf("request %d: %q, %v", i, bins[i], errs[i])
		}
	}
	if n := m.Zips(); n != 1 {
		t.Errorf("%d zip downloads for 10 concurrent requests, want 1", n)
	}
	if got := versionOf(t, bins[0]); got != "Terraform v1.6.9" {
		t.Errorf("installed binary says %q", got)
	}
}

// TestDownloadWaitCancelled: a caller whose context ends stops waiting,
// while the shared download finishes for the others.
func TestDownloadWaitCancelled(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTerraform(t, "1.6.9", releasestest.Options{})
	m.SetZipDelay(500 * time.Millisecond)
	r := newDownloadRunner(t, m, Config{Download: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.ResolveBinary(ctx, "terraform", "1.6.9"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled wait: err = %v", err)
	}
	if bin, err := r.Binary("terraform", "1.6.9"); err != nil || versionOf(t, bin) != "Terraform v1.6.9" {
		t.Errorf("after a cancelled wait: %q, %v", bin, err)
	}
	if n := m.Zips(); n != 1 {
		t.Errorf("%d zip downloads, want 1", n)
	}
}

// TestDownloadDefaultVersion: --default-tf-version is the default binary's
// version when that exists, and is downloaded when it does not.
func TestDownloadDefaultVersion(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTerraform(t, "1.6.9", releasestest.Options{})
	r := newDownloadRunner(t, m, Config{Download: true, DefaultVersion: "1.6.9"})
	bin, err := r.Binary("", "")
	if err != nil || !strings.HasPrefix(bin, r.dataDir) {
		t.Fatalf("default version without a default binary: %q, %v", bin, err)
	}
	own := filepath.Join(t.TempDir(), "terraform")
	if err := os.WriteFile(own, []byte(releasestest.VersionScript("Terraform", "1.6.9")), 0o755); err != nil {
		t.Fatal(err)
	}
	r2 := newDownloadRunner(t, m, Config{Download: true, DefaultVersion: "v1.6.9", Terraform: own})
	for _, v := range []string{"", "1.6.9", "= 1.6.9"} {
		if bin, err := r2.Binary("terraform", v); err != nil || bin != own {
			t.Errorf("Binary(%q) = %q, %v; want the default binary", v, bin, err)
		}
	}
	if n := m.Zips(); n != 1 {
		t.Errorf("%d zip downloads, want 1", n)
	}
	// A default binary of another version than --default-tf-version: that
	// version is downloaded (as Atlantis does); a project pinning the
	// binary's own version runs it, and so does a constraint it satisfies
	// when the releases index cannot be read.
	old := filepath.Join(t.TempDir(), "terraform")
	if err := os.WriteFile(old, []byte(releasestest.VersionScript("Terraform", "1.5.7")), 0o755); err != nil {
		t.Fatal(err)
	}
	r3 := newDownloadRunner(t, m, Config{Download: true, DefaultVersion: "1.6.9", Terraform: old})
	if bin, err := r3.Binary("", ""); err != nil || versionOf(t, bin) != "Terraform v1.6.9" {
		t.Errorf("default version that is not the binary's: %q, %v", bin, err)
	}
	if bin, err := r3.Binary("terraform", "1.5.7"); err != nil || bin != old {
		t.Errorf("the default binary's own version: %q, %v", bin, err)
	}
	offline := newDownloadRunner(t, nil, Config{Download: true, Terraform: old, TerraformDownloadURL: m.URL() + "/offline"})
	if bin, err := offline.Binary("terraform", ">= 1.5.0"); err != nil || bin != old {
		t.Errorf("constraint the default binary satisfies, index unreadable: %q, %v", bin, err)
	}
	if n := m.Zips(); n != 2 {
		t.Errorf("%d zip downloads, want 2", n)
	}
}

// TestDownloadTofu: OpenTofu from a mirror laid out like its GitHub
// releases: checksums and, with a key, the signature checked; only the
// binary unpacked; tampered zips and foreign signatures refused.
func TestDownloadTofu(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTofu(t, "1.6.2", releasestest.Options{})
	m.AddTofu(t, "1.6.3", releasestest.Options{Tamper: true})
	m.AddTofu(t, "1.6.4", releasestest.Options{OtherSigner: true})
	r := newDownloadRunner(t, m, Config{Download: true, TofuDownloadKey: m.Key})
	bin, err := r.Binary("opentofu", "1.6.2")
	if err != nil {
		t.Fatal(err)
	}
	if got := versionOf(t, bin); got != "OpenTofu v1.6.2" || bin != filepath.Join(r.dataDir, "bin", "tofu", "1.6.2", "tofu") {
		t.Errorf("installed %s says %q", bin, got)
	}
	if names, _ := filepath.Glob(filepath.Join(filepath.Dir(bin), "*")); len(names) != 2 {
		t.Errorf("version dir holds %v, want tofu and its manifest", names)
	}
	if m.Hits("/tofu/v1.6.2/tofu_1.6.2_SHA256SUMS.gpgsig") != 1 {
		t.Errorf("the signature was not fetched")
	}
	if _, err := r.Binary("opentofu", "1.6.3"); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("tampered zip: err = %v", err)
	}
	if _, err := r.Binary("opentofu", "1.6.4"); err == nil || !strings.Contains(err.Error(), "signature check failed") {
		t.Errorf("foreign signature: err = %v", err)
	}
	// Without a key the checksums are still checked.
	nokey := newDownloadRunner(t, m, Config{Download: true})
	if bin, err := nokey.Binary("opentofu", "1.6.4"); err != nil || versionOf(t, bin) != "OpenTofu v1.6.4" {
		t.Errorf("no key: %q, %v", bin, err)
	}
	if _, err := nokey.Binary("opentofu", "1.6.3"); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("no key, tampered zip: err = %v", err)
	}
	// A constraint resolves through the mirror's api.json (OpenTofu's
	// format), pre-releases left out.
	m.AddTofu(t, "1.6.5", releasestest.Options{})
	m.AddTofu(t, "1.7.0-beta1", releasestest.Options{})
	if bin, err := nokey.Binary("opentofu", "~> 1.6.0"); err != nil || versionOf(t, bin) != "OpenTofu v1.6.5" {
		t.Errorf("OpenTofu constraint: %q, %v", bin, err)
	}
	if _, err := nokey.Binary("opentofu", ">= 1.7"); err == nil || !strings.Contains(err.Error(), `no OpenTofu release satisfies ">= 1.7"`) {
		t.Errorf("OpenTofu constraint nothing satisfies: err = %v", err)
	}
	if m.Hits("/tofu/api.json") != 1 {
		t.Errorf("api.json read %d times, want once", m.Hits("/tofu/api.json"))
	}
	// OpenTofu's own site keeps its list elsewhere.
	if u := newDownloadRunner(t, nil, Config{}).releaseIndexURL(productTofu); u != "https://get.opentofu.org/tofu/api.json" {
		t.Errorf("default OpenTofu index %s", u)
	}
}

// TestUnzipOne: only the named top-level regular file is unpacked; entries
// that climb out, absolute ones, duplicates, symbolic links and oversized
// files are refused.
func TestUnzipOne(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		files   map[string]string
		limit   int64
		wantErr string
	}{
		{"ok", map[string]string{"tofu": "bin", "README.md": "x", "sub/tofu": "no"}, 100, ""},
		{"dot slash", map[string]string{"./tofu": "bin"}, 100, ""},
		{"climbs out", map[string]string{"../tofu": "bin"}, 100, "no tofu in the archive"},
		{"absolute", map[string]string{"/tofu": "bin"}, 100, "no tofu in the archive"},
		{"duplicate", map[string]string{"tofu": "a", "./tofu": "b"}, 100, "two entries"},
		{"too large", map[string]string{"tofu": strings.Repeat("x", 101)}, 100, "larger than Atoll accepts"},
		{"missing", map[string]string{"terraform": "bin"}, 100, "no tofu in the archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			z := releasestest.ZipOf(t, tc.files)
			dst := filepath.Join(t.TempDir(), "tofu")
			err := unzipOne(strings.NewReader(string(z)), int64(len(z)), "tofu", dst, tc.limit)
			if tc.wantErr == "" {
				b, rerr := os.ReadFile(dst)
				if err != nil || rerr != nil || len(b) == 0 {
					t.Errorf("unzipOne = %v; read %q, %v", err, b, rerr)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("unzipOne = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestDownloadKeyChecked: a download key that is not an armored public key
// stops New.
func TestDownloadKeyChecked(t *testing.T) {
	t.Parallel()
	_, err := New(Config{DataDir: t.TempDir(), Git: testenv.Git(t), TofuDownloadKey: "not a key"})
	if err == nil || !strings.Contains(err.Error(), "--tofu-download-key-file") {
		t.Errorf("New with a bad key: err = %v", err)
	}
}

// TestDownloadSizeLimit: a response larger than the limit fails.
func TestDownloadSizeLimit(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.Set("/big", []byte(strings.Repeat("x", 1000)))
	r := newDownloadRunner(t, m, Config{})
	var sb strings.Builder
	if err := r.fetch(context.Background(), m.URL()+"/big", &sb, 999); !errors.Is(err, errTooLarge) {
		t.Errorf("1000 bytes with a limit of 999: err = %v", err)
	}
	sb.Reset()
	if err := r.fetch(context.Background(), m.URL()+"/big", &sb, 1000); err != nil || sb.Len() != 1000 {
		t.Errorf("1000 bytes with a limit of 1000: %d bytes, %v", sb.Len(), err)
	}
	if err := r.fetch(context.Background(), "file:///etc/passwd", &sb, 1000); err == nil {
		t.Errorf("a file:// URL was fetched")
	}
}

// TestDownloadRealTerraform: the real terraform binary (95 MB), published
// on the mirror as 1.5.7, is downloaded, verified and run; its install time
// is logged.
func TestDownloadRealTerraform(t *testing.T) {
	t.Parallel()
	m := releasestest.New(t)
	m.AddTerraformBinary(t, "1.5.7", testenv.Terraform(t))
	r := newDownloadRunner(t, m, Config{Download: true, Env: append(testenv.TerraformEnv(t), "PATH="+t.TempDir())})
	start := time.Now()
	bin, err := r.Binary("terraform", "1.5.7")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("95 MB terraform downloaded, verified and installed in %s", time.Since(start).Round(time.Millisecond))
	if got := versionOf(t, bin); got != "Terraform v1.5.7" {
		t.Errorf("installed terraform says %q", got)
	}
	// A new process's first use checks size and sha256 against the manifest.
	r2 := newDownloadRunner(t, m, Config{DataDir: r.dataDir, Download: true})
	start = time.Now()
	if again, err := r2.Binary("terraform", "1.5.7"); err != nil || again != bin {
		t.Fatalf("cached: %q, %v", again, err)
	}
	t.Logf("first use from the cache (sha256 of 95 MB) in %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if _, err := r2.Binary("terraform", "1.5.7"); err != nil {
		t.Fatal(err)
	}
	t.Logf("later uses in %s", time.Since(start).Round(time.Microsecond))
	if n := m.Zips(); n != 1 {
		t.Errorf("%d zip downloads, want 1", n)
	}
}
