// This file keeps the data dir's cache of downloaded terraform and OpenTofu
// versions: DataDir/bin/<terraform|tofu>/<VERSION>/ holds the binary and
// manifest.json (its size and sha256), written into a temporary directory
// and renamed into place, so a version's directory is whole or absent. A
// binary that no longer matches its manifest (a partial write, a disk
// error, an edit) is not used and is fetched again.
//
// Requests for one missing version share one download: in-process through
// a singleflight group, between processes sharing the data dir through a
// file lock (DataDir/bin/.locks), after which the cache is checked again.

package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Size limits for what a mirror sends: nothing it says is trusted beyond
// what is verified, and nothing it sends may fill the disk.
const (
	// maxArchiveSize bounds a release zip (terraform 1.9's is about 27 MB).
	maxArchiveSize = 512 << 20
	// maxBinarySize bounds the binary unpacked from it (about 85 MB).
	maxBinarySize = 1 << 30
	// maxIndexSize bounds a releases index (terraform's is a few MB) and
	// SHA256SUMS or signature files.
	maxIndexSize = 64 << 20
	// maxManifestSize bounds a cached version's manifest.json.
	maxManifestSize = 64 << 10
)

const manifestName = "manifest.json"

// manifest records what was installed in a version's cache directory.
type manifest struct {
	Product     string    `json:"product"`
	Version     string    `json:"version"`
	File        string    `json:"file"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	Source      string    `json:"source"`
	InstalledAt time.Time `json:"installed_at"`
}

// fileStamp identifies a file's content cheaply: a binary verified once is
// trusted while its size and modification time stay the same.
type fileStamp struct {
	size  int64
	mtime int64
}

// cacheDir is where the versions of p are cached.
func (r *Runner) cacheDir(p product) string {
	return filepath.Join(r.dataDir, "bin", p.binary)
}

// cachedBinary returns the cached binary of version v when it matches its
// manifest: size and sha256 on first use in this process, then size and
// modification time.
func (r *Runner) cachedBinary(p product, v string) (string, bool) {
	dir := filepath.Join(r.cacheDir(p), v)
	bin := filepath.Join(dir, p.binary)
	fi, err := os.Lstat(bin)
	if err != nil {
		return "", false
	}
	stamp := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	r.versionsMu.Lock()
	s, ok := r.verified[bin]
	r.versionsMu.Unlock()
	if ok && s == stamp && isExecutable(bin) {
		return bin, true
	}
	if err := verifyManifest(dir, p, v); err != nil {
		r.log.Warn("a cached binary does not match its manifest; it will be downloaded again", "path", bin, "err", err)
		return "", false
	}
	r.versionsMu.Lock()
	if r.verified == nil {
		r.verified = map[string]fileStamp{}
	}
	r.verified[bin] = stamp
	r.versionsMu.Unlock()
	return bin, true
}

// verifyManifest checks the binary in dir against dir/manifest.json.
func verifyManifest(dir string, p product, v string) error {
	f, err := os.Open(filepath.Join(dir, manifestName))
	if err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	var m manifest
	if err := json.NewDecoder(io.LimitReader(f, maxManifestSize)).Decode(&m); err != nil {
		return fmt.Errorf("read manifest: %w", err)
	}
	if m.Product != p.binary || m.Version != v || m.File != p.binary {
		return fmt.Errorf("manifest is of %s %s (%s), not %s %s", m.Product, m.Version, m.File, p.binary, v)
	}
	bin := filepath.Join(dir, p.binary)
	fi, err := os.Lstat(bin)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o100 == 0 {
		return fmt.Errorf("%s is not an executable regular file", bin)
	}
	if fi.Size() != m.Size {
		return fmt.Errorf("%s has %d bytes, its manifest says %d", bin, fi.Size(), m.Size)
	}
	sum, _, err := hashFile(bin)
	if err != nil {
		return err
	}
	if sum != m.SHA256 {
		return fmt.Errorf("%s has sha256 %s, its manifest says %s", bin, sum, m.SHA256)
	}
	return nil
}

// hashFile returns the hex sha256 and size of the file at p.
func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func (r *Runner) downloadTimeout() time.Duration {
	if r.cfg.DownloadTimeout > 0 {
		return r.cfg.DownloadTimeout
	}
	return DefaultDownloadTimeout
}

// install downloads version v of p into the cache, once however many
// callers ask at the same time, and returns its binary. The download is
// bounded by Config.DownloadTimeout, not by ctx, which only bounds this
// caller's wait: another caller may still want it.
func (r *Runner) install(ctx context.Context, p product, v string) (string, error) {
	ch := r.installs.DoChan(p.binary+"@"+v, func() (any, error) {
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.downloadTimeout())
		defer cancel()
		return r.installLocked(ictx, p, v)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return "", res.Err
		}
		return res.Val.(string), nil
	case <-ctx.Done():
		return "", fmt.Errorf("wait for the download of %s %s: %w", p.display, v, context.Cause(ctx))
	}
}

// installLocked installs v under the version's file lock, unless another
// process did while this one waited for the lock.
func (r *Runner) installLocked(ctx context.Context, p product, v string) (string, error) {
	root := filepath.Join(r.dataDir, "bin")
	dir := r.cacheDir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s cache: %w", p.display, err)
	}
	// The cache holds what terraform runs: only the server's user may write it.
	for _, d := range []string{root, dir} {
		if err := os.Chmod(d, 0o700); err != nil {
			return "", fmt.Errorf("create %s cache: %w", p.display, err)
		}
	}
	unlock, err := r.lockFile(ctx, filepath.Join(root, ".locks", p.binary+"-"+v+".lock"), "the "+p.display+" "+v+" download")
	if err != nil {
		return "", err
	}
	defer unlock()
	if bin, ok := r.cachedBinary(p, v); ok {
		return bin, nil
	}
	// Leftovers of an install of v that died half-way ("_" never occurs in
	// a version, so another version's install in progress is not matched).
	for _, pattern := range []string{".install-" + v + "_*", ".remove-" + v + "_*"} {
		old, _ := filepath.Glob(filepath.Join(dir, pattern))
		for _, o := range old {
			_ = os.RemoveAll(o)
		}
	}
	start := time.Now()
	tmp, err := os.MkdirTemp(dir, ".install-"+v+"_")
	if err != nil {
		return "", fmt.Errorf("install %s %s: %w", p.display, v, err)
	}
	defer os.RemoveAll(tmp)
	var source string
	switch p.dist {
	case DistOpenTofu:
		source, err = r.downloadTofu(ctx, v, tmp)
	default:
		source, err = r.downloadTerraform(ctx, v, tmp)
	}
	if err != nil {
		return "", err
	}
	bin := filepath.Join(tmp, p.binary)
	if err := os.Chmod(bin, 0o700); err != nil {
		return "", fmt.Errorf("install %s %s: %w", p.display, v, err)
	}
	// The archive was verified; that it is the version asked for is not
	// (a mirror could serve another signed release under this name).
	got, err := r.binaryVersion(ctx, p, bin)
	if err != nil {
		return "", fmt.Errorf("install %s %s: check the downloaded binary: %w", p.display, v, err)
	}
	if got != v {
		return "", fmt.Errorf("install %s %s: the download from %s is version %s; refusing it", p.display, v, source, got)
	}
	sum, size, err := hashFile(bin)
	if err != nil {
		return "", fmt.Errorf("install %s %s: %w", p.display, v, err)
	}
	m, err := json.MarshalIndent(manifest{Product: p.binary, Version: v, File: p.binary, Size: size, SHA256: sum,
		Source: source, InstalledAt: time.Now().UTC()}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(tmp, manifestName), append(m, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("install %s %s: write manifest: %w", p.display, v, err)
	}
	final := filepath.Join(dir, v)
	if _, err := os.Lstat(final); err == nil {
		// A corrupt or partial version: move it aside whole, then remove it.
		trash, err := os.MkdirTemp(dir, ".remove-"+v+"_")
		if err != nil {
			return "", fmt.Errorf("install %s %s: %w", p.display, v, err)
		}
		defer os.RemoveAll(trash)
		if err := os.Rename(final, filepath.Join(trash, "old")); err != nil {
			return "", fmt.Errorf("install %s %s: replace the corrupt cached version: %w", p.display, v, err)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("install %s %s: %w", p.display, v, err)
	}
	r.log.Info("installed a version", "product", p.binary, "version", v, "source", source, "bytes", size,
		"duration", time.Since(start).Round(time.Millisecond))
	bin = filepath.Join(final, p.binary)
	if _, ok := r.cachedBinary(p, v); !ok {
		return "", fmt.Errorf("install %s %s: the installed binary does not match its manifest", p.display, v)
	}
	return bin, nil
}

// lockFile takes an exclusive file lock at path (created, with its
// directory, if needed), waiting until it is free or ctx ends. what names
// the lock in errors. The returned function releases it.
func (r *Runner) lockFile(ctx context.Context, path, what string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", what, err)
	}
	for {
		held, err := tryFlock(f)
		if held {
			return func() { _ = f.Close() }, nil // closing releases the lock
		}
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for the lock of %s: %w", what, context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// copyLimited copies at most limit bytes of src to dst, failing when src
// has more.
func copyLimited(dst io.Writer, src io.Reader, limit int64) (int64, error) {
	n, err := io.Copy(dst, io.LimitReader(src, limit+1))
	if err != nil {
		return n, err
	}
	if n > limit {
		return n, errTooLarge
	}
	return n, nil
}

var errTooLarge = errors.New("larger than Atoll accepts")

// cleanBaseURL trims the trailing slashes of a download URL.
func cleanBaseURL(u string) string { return strings.TrimRight(u, "/") }
