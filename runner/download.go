// This file downloads terraform (with hc-install, from a site laid out like
// releases.hashicorp.com, its SHA256SUMS signed by HashiCorp's key or
// Config.TerraformDownloadKey) and OpenTofu (from a site laid out like
// OpenTofu's GitHub releases, its SHA256SUMS checked and, with
// Config.TofuDownloadKey, its signature), and reads the releases index that
// resolves a version constraint. Only the configured URLs are contacted;
// nothing in a repository names one.

package runner

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	version "github.com/hashicorp/go-version"
	hcproduct "github.com/hashicorp/hc-install/product"
	"github.com/hashicorp/hc-install/releases"
)

// releaseIndexTTL is how long a releases index is reused: new releases are
// seen within it, and a burst of plans reads the index once.
const releaseIndexTTL = 5 * time.Minute

// releaseIndexErrorTTL is how long a releases index that could not be read
// is not asked again: plans of a server cut off from it wait no longer.
const releaseIndexErrorTTL = 30 * time.Second

// releaseIndexEntry is a releases index read at fetched, or the error of
// reading it.
type releaseIndexEntry struct {
	versions []string
	err      error
	fetched  time.Time
}

// downloadURL is the configured download site of p, without trailing "/".
func (r *Runner) downloadURL(p product) string {
	u := r.cfg.TerraformDownloadURL
	def := DefaultTerraformDownloadURL
	if p.dist == DistOpenTofu {
		u, def = r.cfg.TofuDownloadURL, DefaultTofuDownloadURL
	}
	if u == "" {
		u = def
	}
	return cleanBaseURL(u)
}

// downloadClient returns the HTTP client of downloads: Config.HTTPClient's
// transport (or a default one) behind limits on what a response may hold,
// no redirect from https to http.
func (r *Runner) downloadClient(limit int64) *http.Client {
	var base http.RoundTripper
	if r.cfg.HTTPClient != nil && r.cfg.HTTPClient.Transport != nil {
		base = r.cfg.HTTPClient.Transport
	} else {
		base = &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: time.Minute,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          10,
			IdleConnTimeout:       90 * time.Second,
		}
	}
	return &http.Client{
		Transport: limitTransport{base: base, limit: limit},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return fmt.Errorf("refuse a redirect from https to %s", req.URL.Redacted())
			}
			return nil
		},
	}
}

// limitTransport fails a response body past limit bytes and refuses
// schemes other than http and https.
type limitTransport struct {
	base  http.RoundTripper
	limit int64
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && req.URL.Scheme != "http" {
		return nil, fmt.Errorf("refuse to download %s: not http or https", req.URL.Redacted())
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.limit {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %d bytes is %w (%d)", req.URL.Redacted(), resp.ContentLength, errTooLarge, t.limit)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.limit, url: req.URL.Redacted()}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
	url  string
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly the limit from a longer one.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%s: %w", b.url, errTooLarge)
		}
		return b.rc.Read(p[:0])
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// downloadTerraform installs terraform v into dir/terraform with
// hc-install, which checks the signature of the release's SHA256SUMS and
// the zip's checksum before unpacking it. It returns the site used.
func (r *Runner) downloadTerraform(ctx context.Context, v, dir string) (string, error) {
	ver, err := version.NewVersion(v)
	if err != nil {
		return "", fmt.Errorf("download terraform %s: %w", v, err)
	}
	base := r.downloadURL(productTerraform)
	unpack := filepath.Join(dir, "unpack")
	if err := os.Mkdir(unpack, 0o700); err != nil {
		return "", fmt.Errorf("download terraform %s: %w", v, err)
	}
	ev := &releases.ExactVersion{
		Product:          hcproduct.Terraform,
		Version:          ver,
		InstallDir:       unpack,
		Timeout:          r.downloadTimeout(),
		ApiBaseURL:       base,
		ArmoredPublicKey: r.cfg.TerraformDownloadKey,
		HTTPClient:       r.downloadClient(maxArchiveSize),
	}
	// hc-install (up to v0.10.0 at least) loses the error of a checksum
	// mismatch, unpacks nothing and then fails to chmod the missing binary;
	// its log says what happened.
	var hclog capBuffer
	ev.SetLogger(log.New(&hclog, "", 0))
	if _, err := ev.Install(ctx); err != nil {
		if line := hclog.line("checksum does not match"); line != "" {
			line, _, _ = strings.Cut(line, " (expected")
			return "", fmt.Errorf("download terraform %s from %s: checksum mismatch: %s", v, base, line)
		}
		return "", fmt.Errorf("download terraform %s from %s: %w (hc-install's last words: %q)", v, base, err, hclog.last(3))
	}
	// hc-install unpacks the whole (verified) archive; keep the binary only.
	src := filepath.Join(unpack, "terraform")
	fi, err := os.Lstat(src)
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxBinarySize {
		return "", fmt.Errorf("download terraform %s from %s: the archive has no terraform binary Atoll accepts", v, base)
	}
	if err := os.Rename(src, filepath.Join(dir, "terraform")); err != nil {
		return "", fmt.Errorf("download terraform %s: %w", v, err)
	}
	if err := os.RemoveAll(unpack); err != nil {
		return "", fmt.Errorf("download terraform %s: %w", v, err)
	}
	return base, nil
}

// capBuffer keeps the first 64 KiB written to it.
type capBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 64<<10 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// last returns the last n lines.
func (b *capBuffer) last(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(b.buf.String()), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "; ")
}

// line returns the first line holding s, or "".
func (b *capBuffer) line(s string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}

// downloadTofu installs OpenTofu v into dir/tofu from
// BASE/vVERSION/tofu_VERSION_OS_ARCH.zip, after checking the zip against
// tofu_VERSION_SHA256SUMS and, with Config.TofuDownloadKey, that file
// against its detached signature tofu_VERSION_SHA256SUMS.gpgsig. Only the
// tofu binary is unpacked. It returns the zip's URL.
func (r *Runner) downloadTofu(ctx context.Context, v, dir string) (string, error) {
	prefix := r.downloadURL(productTofu) + "/v" + v + "/"
	sumsName := "tofu_" + v + "_SHA256SUMS"
	zipName := fmt.Sprintf("tofu_%s_%s_%s.zip", v, runtime.GOOS, runtime.GOARCH)
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("download OpenTofu %s from %s: %w", v, prefix, err)
	}
	var sums bytes.Buffer
	if err := r.fetch(ctx, prefix+sumsName, &sums, maxIndexSize); err != nil {
		return fail(err)
	}
	if key := r.cfg.TofuDownloadKey; key != "" {
		var sig bytes.Buffer
		if err := r.fetch(ctx, prefix+sumsName+".gpgsig", &sig, maxIndexSize); err != nil {
			return fail(err)
		}
		if err := checkSignature(key, sums.Bytes(), sig.Bytes()); err != nil {
			return fail(fmt.Errorf("%s: %w", sumsName, err))
		}
	} else {
		r.log.Warn("no --tofu-download-key-file: OpenTofu's checksums are checked but not their signature", "version", v)
	}
	want, err := checksumOf(sums.Bytes(), zipName)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", sumsName, err))
	}
	zipPath := filepath.Join(dir, zipName)
	f, err := os.OpenFile(zipPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	h := sha256.New()
	if err := r.fetch(ctx, prefix+zipName, io.MultiWriter(f, h), maxArchiveSize); err != nil {
		return fail(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fail(fmt.Errorf("checksum mismatch for %s: got %s, %s says %s", zipName, got, sumsName, want))
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if err := unzipOne(f, fi.Size(), "tofu", filepath.Join(dir, "tofu"), maxBinarySize); err != nil {
		return fail(fmt.Errorf("%s: %w", zipName, err))
	}
	if err := os.Remove(zipPath); err != nil {
		return fail(err)
	}
	return prefix + zipName, nil
}

// fetch GETs url into w, failing on a status other than 200 or more than
// limit bytes.
func (r *Runner) fetch(ctx context.Context, url string, w io.Writer, limit int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := r.downloadClient(limit).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", req.URL.Redacted(), resp.Status)
	}
	if _, err := copyLimited(w, resp.Body, limit); err != nil {
		return fmt.Errorf("GET %s: %w", req.URL.Redacted(), err)
	}
	return nil
}

// checkSignature verifies the detached OpenPGP signature sig (binary or
// armored) of data with the armored public key(s) in key.
func checkSignature(key string, data, sig []byte) error {
	keyring, err := openpgp.ReadArmoredKeyRing(strings.NewReader(key))
	if err != nil {
		return fmt.Errorf("read the download key: %w", err)
	}
	if bytes.HasPrefix(bytes.TrimSpace(sig), []byte("-----BEGIN PGP SIGNATURE-----")) {
		_, err = openpgp.CheckArmoredDetachedSignature(keyring, bytes.NewReader(data), bytes.NewReader(sig), nil)
	} else {
		_, err = openpgp.CheckDetachedSignature(keyring, bytes.NewReader(data), bytes.NewReader(sig), nil)
	}
	if err != nil {
		return fmt.Errorf("signature check failed: %w", err)
	}
	return nil
}

// checkDownloadKeys fails when a download key of cfg is not an armored
// OpenPGP public key, at start-up rather than at the first download.
func checkDownloadKeys(cfg Config) error {
	for _, k := range []struct{ name, key string }{
		{"terraform download key (--tf-download-key-file)", cfg.TerraformDownloadKey},
		{"OpenTofu download key (--tofu-download-key-file)", cfg.TofuDownloadKey},
	} {
		if k.key == "" {
			continue
		}
		if _, err := openpgp.ReadArmoredKeyRing(strings.NewReader(k.key)); err != nil {
			return fmt.Errorf("read the %s: %w", k.name, err)
		}
	}
	return nil
}

// checksumOf finds the sha256 of name in a SHA256SUMS file.
func checksumOf(sums []byte, name string) (string, error) {
	found := ""
	for _, line := range strings.Split(string(sums), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 2 || strings.TrimPrefix(fields[1], "*") != name {
			continue
		}
		sum := strings.ToLower(fields[0])
		if b, err := hex.DecodeString(sum); err != nil || len(b) != sha256.Size {
			return "", fmt.Errorf("the checksum of %s is not a sha256", name)
		}
		if found != "" && found != sum {
			return "", fmt.Errorf("two checksums for %s", name)
		}
		found = sum
	}
	if found == "" {
		return "", fmt.Errorf("no checksum for %s", name)
	}
	return found, nil
}

// unzipOne writes the one regular file of the zip archive ra named name (at
// its top level) to dst, refusing an archive with no such file or two of
// them, and a file larger than limit. Nothing else is unpacked.
func unzipOne(ra io.ReaderAt, size int64, name, dst string, limit int64) error {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return err
	}
	var entry *zip.File
	for _, f := range zr.File {
		clean := path.Clean(strings.ReplaceAll(f.Name, "\\", "/"))
		if clean != name {
			continue
		}
		if entry != nil {
			return fmt.Errorf("two entries named %s", name)
		}
		if !f.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file in the archive", name)
		}
		if f.UncompressedSize64 > uint64(limit) {
			return fmt.Errorf("%s: %w", name, errTooLarge)
		}
		entry = f
	}
	if entry == nil {
		return fmt.Errorf("no %s in the archive", name)
	}
	rc, err := entry.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return err
	}
	if _, err := copyLimited(out, rc, limit); err != nil {
		out.Close()
		return fmt.Errorf("unpack %s: %w", name, err)
	}
	return out.Close()
}

// DefaultTofuIndexURL is OpenTofu's list of releases, read to resolve a
// constraint when OpenTofu comes from DefaultTofuDownloadURL; a mirror
// serves its own as MIRROR/api.json, in the same format.
const DefaultTofuIndexURL = "https://get.opentofu.org/tofu/api.json"

// releaseIndexURL is where the releases index of p is: BASE/terraform/index.json
// (releases.hashicorp.com's layout), or OpenTofu's api.json.
func (r *Runner) releaseIndexURL(p product) string {
	if p.dist == DistOpenTofu {
		if r.downloadURL(p) == cleanBaseURL(DefaultTofuDownloadURL) {
			return DefaultTofuIndexURL
		}
		return r.downloadURL(p) + "/api.json"
	}
	return r.downloadURL(p) + "/" + p.binary + "/index.json"
}

// releaseVersions returns the versions in p's releases index (see
// releaseIndexURL), read at most once per releaseIndexTTL.
func (r *Runner) releaseVersions(ctx context.Context, p product) ([]string, error) {
	url := r.releaseIndexURL(p)
	r.versionsMu.Lock()
	e, ok := r.releaseIndex[url]
	r.versionsMu.Unlock()
	switch {
	case ok && e.err == nil && time.Since(e.fetched) < releaseIndexTTL:
		return e.versions, nil
	case ok && e.err != nil && time.Since(e.fetched) < releaseIndexErrorTTL:
		return nil, e.err
	}
	ch := r.indexes.DoChan(url, func() (any, error) {
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		versions, err := r.readReleaseIndex(ictx, p, url)
		r.versionsMu.Lock()
		if r.releaseIndex == nil {
			r.releaseIndex = map[string]releaseIndexEntry{}
		}
		r.releaseIndex[url] = releaseIndexEntry{versions: versions, err: err, fetched: time.Now()}
		r.versionsMu.Unlock()
		return versions, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.([]string), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// readReleaseIndex reads the exact versions of a releases index at url.
func (r *Runner) readReleaseIndex(ctx context.Context, p product, url string) ([]string, error) {
	var buf bytes.Buffer
	if err := r.fetch(ctx, url, &buf, maxIndexSize); err != nil {
		return nil, fmt.Errorf("read the %s releases index: %w", p.display, err)
	}
	var all []string
	if p.dist == DistOpenTofu {
		// {"versions": [{"id": "1.8.0", "files": [...]}, ...]}
		var idx struct {
			Versions []struct {
				ID string `json:"id"`
			} `json:"versions"`
		}
		if err := json.Unmarshal(buf.Bytes(), &idx); err != nil {
			return nil, fmt.Errorf("read the %s releases index %s: %w", p.display, url, err)
		}
		for _, v := range idx.Versions {
			all = append(all, v.ID)
		}
	} else {
		// {"name": "terraform", "versions": {"1.5.7": {...}, ...}}
		var idx struct {
			Versions map[string]struct{} `json:"versions"`
		}
		if err := json.Unmarshal(buf.Bytes(), &idx); err != nil {
			return nil, fmt.Errorf("read the %s releases index %s: %w", p.display, url, err)
		}
		for v := range idx.Versions {
			all = append(all, v)
		}
	}
	var versions []string
	for _, v := range all {
		if exactRe.MatchString(v) {
			versions = append(versions, v)
		}
	}
	return versions, nil
}
