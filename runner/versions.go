// This file resolves the terraform or OpenTofu version a project asks for to
// a binary: which version (an exact one, or the newest release a constraint
// allows) and where it is (the default binary, the data dir's cache,
// Config.BinDir, or a verified download, see install.go).

package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"
)

// Where versions are downloaded from when Config names no mirror.
const (
	// DefaultTerraformDownloadURL is HashiCorp's releases site (--tf-download-url).
	DefaultTerraformDownloadURL = "https://releases.hashicorp.com"
	// DefaultTofuDownloadURL is where OpenTofu's GitHub releases are
	// downloaded from (--tofu-download-url): BASE/vVERSION/tofu_VERSION_OS_ARCH.zip.
	DefaultTofuDownloadURL = "https://github.com/opentofu/opentofu/releases/download"
	// DefaultDownloadTimeout bounds one download and install of a version.
	DefaultDownloadTimeout = 10 * time.Minute
)

// ErrNotInstalled is wrapped by the error of Binary when the version a
// project asks for is neither the default binary's, nor cached, nor in
// BinDir, and Config.Download forbids fetching it.
var ErrNotInstalled = errors.New("version not installed")

// errNoInstalledMatch is wrapped by resolveConstraint's error when it could
// only choose among installed versions and none satisfies the constraint.
var errNoInstalledMatch = errors.New("no installed version satisfies the constraint")

// product is one distribution Atoll can run: its binary's name and how a
// version of it is downloaded.
type product struct {
	dist    string // DistTerraform or DistOpenTofu
	display string // "terraform", "OpenTofu"
	binary  string // "terraform", "tofu"
	// banner is the first word of `BINARY version`'s output ("Terraform").
	banner string
}

var (
	productTerraform = product{dist: DistTerraform, display: "terraform", binary: "terraform", banner: "Terraform"}
	productTofu      = product{dist: DistOpenTofu, display: "OpenTofu", binary: "tofu", banner: "OpenTofu"}
)

// versionSpec is what a project asks for: an exact version ("1.5.7"), a
// constraint (">= 1.5, < 1.7"; config keeps required_version's text), or
// nothing ("").
type versionSpec struct {
	exact      string              // set for an exact version, without "v"
	constraint version.Constraints // set for a constraint
	text       string              // as written
}

// exactRe is an exact version as a binary's file name carries it.
var exactRe = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$`)

// parseVersionSpec reads a project's terraform_version: an exact version,
// with or without "v" or "=", or a constraint terraform's required_version
// accepts.
func parseVersionSpec(p product, s string) (versionSpec, error) {
	text := strings.TrimSpace(s)
	v := strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(text, "=")), "v")
	if exactRe.MatchString(v) {
		return versionSpec{exact: v, text: text}, nil
	}
	if text != "" && !strings.ContainsAny(text, ";|&$`\\\n") {
		if c, err := version.NewConstraint(text); err == nil {
			return versionSpec{constraint: c, text: text}, nil
		}
	}
	return versionSpec{}, fmt.Errorf("%s version %q is not a version like 1.5.7 or a constraint like >= 1.5", p.display, s)
}

// ResolveBinary returns the binary for a project's terraform_distribution
// ("" for Config.DefaultDistribution) and terraform_version: "" means
// Config.DefaultVersion, or the distribution's default binary (--tf-binary,
// --tofu-binary, else on PATH) when that is unset too. A version is an exact
// one or a constraint (required_version's), for which the newest release
// that satisfies it is chosen from the releases index (see
// resolveConstraint). The binary of a version is, in this order: the default
// binary when it is that version (as `BINARY version` says, or
// Config.DefaultVersion for a binary that does not say), the data dir's cache
// (DataDir/bin, checked against its manifest), BinDir/terraform<VERSION>
// (or tofu<VERSION>, with or without "_"), or a download when Config.Download
// allows it. A constraint that only installed versions could answer and none
// satisfies runs the default binary, which checks required_version itself.
// ctx bounds the caller's wait; a download shared with other callers runs to
// the end (or Config.DownloadTimeout) without it.
func (r *Runner) ResolveBinary(ctx context.Context, distribution, ver string) (string, error) {
	if distribution == "" {
		distribution = r.cfg.DefaultDistribution
	}
	var p product
	switch distribution {
	case "", DistTerraform:
		p = productTerraform
	case DistOpenTofu:
		p = productTofu
	default:
		return "", fmt.Errorf("terraform_distribution %q is not terraform or opentofu", distribution)
	}
	if strings.TrimSpace(ver) == "" {
		ver = r.defaultVersion(p)
		if ver == "" {
			return r.defaultBinary(p)
		}
	}
	spec, err := parseVersionSpec(p, ver)
	if err != nil {
		return "", err
	}
	v := spec.exact
	if v == "" {
		v, err = r.resolveConstraint(ctx, p, spec)
		if errors.Is(err, errNoInstalledMatch) {
			// The constraint is required_version's, which terraform checks
			// itself: the default binary runs, as it would without Atoll
			// resolving anything, and says so if it does not satisfy it.
			if bin, derr := r.defaultBinary(p); derr == nil {
				r.log.Info("no installed version satisfies the constraint; running the default binary", "product", p.binary, "constraint", spec.text, "reason", err)
				return bin, nil
			}
		}
		if err != nil {
			return "", err
		}
	}
	if bin, dv, ok := r.defaultBinaryVersion(ctx, p); ok && dv == v {
		return bin, nil
	}
	return r.versionBinary(ctx, p, v)
}

// defaultBinaryVersion returns the default binary of p and its version:
// what `BINARY version` prints, else (a binary that does not say)
// Config.DefaultVersion. ok is false when there is no default binary.
func (r *Runner) defaultBinaryVersion(ctx context.Context, p product) (bin, v string, ok bool) {
	bin, err := r.defaultBinary(p)
	if err != nil {
		return "", "", false
	}
	if v, err := r.binaryVersion(ctx, p, bin); err == nil {
		return bin, v, true
	}
	return bin, strings.TrimPrefix(r.defaultVersion(p), "v"), true
}

// Binary is ResolveBinary for callers without a context: it waits for a
// download at most Config.DownloadTimeout.
func (r *Runner) Binary(distribution, version string) (string, error) {
	return r.ResolveBinary(context.Background(), distribution, version)
}

// TerraformBinary is Binary(DistTerraform, version).
func (r *Runner) TerraformBinary(version string) (string, error) {
	return r.Binary(DistTerraform, version)
}

// defaultVersion is Config.DefaultVersion when p is the default
// distribution: --default-tf-version names the version of the default
// distribution's default binary.
func (r *Runner) defaultVersion(p product) string {
	def := r.cfg.DefaultDistribution
	if def == "" {
		def = DistTerraform
	}
	if p.dist != def {
		return ""
	}
	return strings.TrimSpace(r.cfg.DefaultVersion)
}

// defaultBinary finds --tf-binary (or --tofu-binary), else the product's
// name on PATH.
func (r *Runner) defaultBinary(p product) (string, error) {
	name := r.cfg.Terraform
	if p.dist == DistOpenTofu {
		name = r.cfg.Tofu
	}
	if name == "" {
		name = p.binary
	}
	bin, err := lookPath(name, r.env)
	if err != nil {
		if p.dist == DistOpenTofu {
			return "", fmt.Errorf("find OpenTofu: %w (set --tofu-binary)", err)
		}
		return "", fmt.Errorf("find default terraform: %w", err)
	}
	return bin, nil
}

// versionBinary finds exact version v of p: cached, in BinDir, or
// downloaded.
func (r *Runner) versionBinary(ctx context.Context, p product, v string) (string, error) {
	if bin, ok := r.cachedBinary(p, v); ok {
		return bin, nil
	}
	if bin, ok := r.binDirBinary(p, v); ok {
		return bin, nil
	}
	if !r.cfg.Download {
		where := "no directory for extra versions is configured (--tf-bin-dir)"
		if r.cfg.BinDir != "" {
			where = "put it at " + filepath.Join(r.cfg.BinDir, p.binary+v)
		}
		return "", fmt.Errorf("%s %s is not installed and downloads are turned off (--tf-download=false): %s: %w", p.display, v, where, ErrNotInstalled)
	}
	return r.install(ctx, p, v)
}

// binDirBinary looks for version v in Config.BinDir.
func (r *Runner) binDirBinary(p product, v string) (string, bool) {
	if r.cfg.BinDir == "" {
		return "", false
	}
	for _, name := range []string{p.binary + v, p.binary + "_" + v} {
		if bin := filepath.Join(r.cfg.BinDir, name); isExecutable(bin) {
			return bin, true
		}
	}
	return "", false
}

// resolveConstraint picks the version a constraint selects: with downloads
// allowed, the newest release in the releases index that satisfies it
// (see releaseIndexURL); else,
// or when the index cannot be read, the newest installed version that
// does (the default binary's, cached ones, BinDir's). When none does, the
// error wraps errNoInstalledMatch, and ResolveBinary falls back to the
// default binary.
func (r *Runner) resolveConstraint(ctx context.Context, p product, spec versionSpec) (string, error) {
	var indexErr error
	if r.cfg.Download {
		versions, err := r.releaseVersions(ctx, p)
		if err == nil {
			if v := newestMatching(versions, spec.constraint); v != "" {
				return v, nil
			}
			return "", fmt.Errorf("no %s release satisfies %q (releases index %s)", p.display, spec.text, r.releaseIndexURL(p))
		}
		indexErr = err
		r.log.Warn("read the releases index; choosing among installed versions", "product", p.binary, "constraint", spec.text, "err", err)
	}
	local := r.installedVersions(ctx, p)
	if v := newestMatching(local, spec.constraint); v != "" {
		return v, nil
	}
	msg := fmt.Sprintf("no installed %s version satisfies %q", p.display, spec.text)
	if len(local) > 0 {
		msg += " (installed: " + strings.Join(local, ", ") + ")"
	}
	if indexErr != nil {
		return "", fmt.Errorf("%s, and the releases index cannot be read: %w (%w)", msg, indexErr, errNoInstalledMatch)
	}
	return "", fmt.Errorf("%s, and downloads are turned off (--tf-download=false): %w (%w)", msg, ErrNotInstalled, errNoInstalledMatch)
}

// newestMatching returns the newest of versions that satisfies c; a
// pre-release only satisfies a constraint that names one.
func newestMatching(versions []string, c version.Constraints) string {
	var best *version.Version
	for _, s := range versions {
		v, err := version.NewVersion(s)
		if err != nil || !exactRe.MatchString(s) || v.Metadata() != "" || !c.Check(v) {
			continue
		}
		if best == nil || v.GreaterThan(best) {
			best = v
		}
	}
	if best == nil {
		return ""
	}
	return best.Original()
}

// installedVersions lists the versions of p installed here: the default
// binary's (see defaultBinaryVersion), the cache's and BinDir's.
func (r *Runner) installedVersions(ctx context.Context, p product) []string {
	var out []string
	if _, v, ok := r.defaultBinaryVersion(ctx, p); ok && v != "" {
		out = append(out, v)
	}
	if entries, err := os.ReadDir(r.cacheDir(p)); err == nil {
		for _, e := range entries {
			if exactRe.MatchString(e.Name()) {
				if _, ok := r.cachedBinary(p, e.Name()); ok {
					out = append(out, e.Name())
				}
			}
		}
	}
	if r.cfg.BinDir != "" {
		if entries, err := os.ReadDir(r.cfg.BinDir); err == nil {
			for _, e := range entries {
				v := strings.TrimPrefix(strings.TrimPrefix(e.Name(), p.binary), "_")
				if v != e.Name() && exactRe.MatchString(v) && isExecutable(filepath.Join(r.cfg.BinDir, e.Name())) {
					out = append(out, v)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// binaryVersion runs `bin version` and reads the version from its first
// line ("Terraform v1.5.7", "OpenTofu v1.6.3"). Answers, and failures other
// than ctx ending, are remembered by path, size and modification time.
func (r *Runner) binaryVersion(ctx context.Context, p product, bin string) (string, error) {
	fi, err := os.Stat(bin)
	if err != nil {
		return "", err
	}
	key := fmt.Sprintf("%s\x00%d\x00%d", bin, fi.Size(), fi.ModTime().UnixNano())
	r.versionsMu.Lock()
	res, ok := r.binVersions[key]
	r.versionsMu.Unlock()
	if ok {
		return res.version, res.err
	}
	v, err := probeVersion(ctx, p, bin, r.env)
	if ctx.Err() != nil {
		return v, err
	}
	r.versionsMu.Lock()
	if r.binVersions == nil || len(r.binVersions) > maxTFHandles {
		r.binVersions = map[string]versionAnswer{}
	}
	r.binVersions[key] = versionAnswer{version: v, err: err}
	r.versionsMu.Unlock()
	return v, err
}

// versionAnswer is what binaryVersion found out about a binary.
type versionAnswer struct {
	version string
	err     error
}

// probeVersion runs `bin version` with env and reads its first line.
func probeVersion(ctx context.Context, p product, bin string, env []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version")
	// No update check: the answer is all we need.
	cmd.Env = append(slices.Clone(env), "CHECKPOINT_DISABLE=1")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("run %s version: %w", bin, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	words := strings.Fields(line)
	if len(words) < 2 || words[0] != p.banner || !exactRe.MatchString(strings.TrimPrefix(words[1], "v")) {
		return "", fmt.Errorf("%s version printed %q, not %q and a version", bin, line, p.banner)
	}
	return strings.TrimPrefix(words[1], "v"), nil
}
