package runner

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Skipping init. A project's .terraform survives checkouts (see
// updateWorktree), and init is skipped when nothing it depends on changed
// since the last successful init in that directory: the terraform binary, the
// dependency lock file, the terraform and module blocks of the project and of
// its local modules, the workspace, init's extra arguments and the TF_*
// environment (TF_VAR_* aside) with the CLI config file's content. The key is
// recorded outside the worktree (DataDir/init/<hash of the directory>.json)
// together with a random nonce that is also written to .terraform/atoll-init;
// a skip needs both to agree, so a pull request cannot plant a .terraform that
// Atoll trusts: files it commits under .terraform make Checkout drop every
// untracked .terraform, and it cannot know the nonce.
//
// A repository that commits no .terraform.lock.hcl gets one from init; it is
// kept across pushes (so re-plans skip init and the plugin cache applies), and
// removed before the next init that the key calls for, so that init picks
// provider versions afresh as in a fresh directory.

const (
	initNonceFile = "atoll-init"
	lockFileName  = ".terraform.lock.hcl"
)

// initRecord is what the last successful init of a project directory left.
type initRecord struct {
	Key   string `json:"key"`
	Nonce string `json:"nonce"`
	// LockGenerated says the lock file did not exist before that init;
	// LockHash is its hash after it.
	LockGenerated bool   `json:"lock_generated"`
	LockHash      string `json:"lock_hash"`
}

func (x *execution) initRecordPath() string {
	sum := sha256.Sum256([]byte(x.projectDir))
	return filepath.Join(x.r.dataDir, "init", hex.EncodeToString(sum[:16])+".json")
}

func (x *execution) readInitRecord() (initRecord, bool) {
	var rec initRecord
	b, err := os.ReadFile(x.initRecordPath())
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.Key == "" || rec.Nonce == "" {
		return initRecord{}, false
	}
	return rec, true
}

// initSkippable reports whether init can be skipped for key.
func (x *execution) initSkippable(env map[string]string, key string) bool {
	if env["TF_DATA_DIR"] != "" {
		return false // .terraform is elsewhere; not worth tracking
	}
	rec, ok := x.readInitRecord()
	if !ok || rec.Key != key {
		return false
	}
	b, err := os.ReadFile(filepath.Join(x.projectDir, ".terraform", initNonceFile))
	return err == nil && string(b) == rec.Nonce
}

// forgetInit drops the record of the last init, .terraform, and a lock file
// that init generated and nothing changed since. Called before an init runs,
// unless TF_DATA_DIR is set.
func (x *execution) forgetInit() error {
	rec, ok := x.readInitRecord()
	if err := os.Remove(x.initRecordPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove init record: %w", err)
	}
	// Init then runs as in a fresh directory, as it did before .terraform was
	// kept: a changed backend is configured afresh rather than migrated, and
	// providers come from the plugin cache.
	if err := os.RemoveAll(filepath.Join(x.projectDir, ".terraform")); err != nil {
		return fmt.Errorf("remove .terraform: %w", err)
	}
	if ok && rec.LockGenerated && fileHash(filepath.Join(x.projectDir, lockFileName)) == rec.LockHash {
		if err := os.Remove(filepath.Join(x.projectDir, lockFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove generated lock file: %w", err)
		}
	}
	return nil
}

// rememberInit records a successful init made with lockBefore as the lock
// file's hash beforehand.
func (x *execution) rememberInit(key, lockBefore string) error {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("make init marker: %w", err)
	}
	rec := initRecord{Key: key, Nonce: hex.EncodeToString(nonce),
		LockGenerated: lockBefore == "", LockHash: fileHash(filepath.Join(x.projectDir, lockFileName))}
	if err := os.MkdirAll(filepath.Join(x.projectDir, ".terraform"), 0o755); err != nil {
		return fmt.Errorf("write init marker: %w", err)
	}
	if err := os.WriteFile(filepath.Join(x.projectDir, ".terraform", initNonceFile), []byte(rec.Nonce), 0o600); err != nil {
		return fmt.Errorf("write init marker: %w", err)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encode init record: %w", err)
	}
	p := x.initRecordPath()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("write init record: %w", err)
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write init record: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write init record: %w", err)
	}
	return nil
}

// fileHash is the hex SHA-256 of a file's content, "" when it cannot be read.
func fileHash(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// initKey hashes everything a successful init depends on (see above).
func (x *execution) initKey(env map[string]string, args []string) string {
	h := sha256.New()
	field := func(name, v string) { fmt.Fprintf(h, "%s\x00%d\x00%s\x00", name, len(v), v) }
	field("bin", x.tfBin)
	if fi, err := os.Stat(x.tfBin); err == nil {
		field("bin-stat", fmt.Sprint(fi.Size(), fi.ModTime().UnixNano()))
	}
	if x.tf != nil && x.tf.shim {
		field("shim", x.shim)
	}
	field("workspace", x.job.Workspace)
	field("args", strings.Join(args, "\x00"))
	keys := make([]string, 0, len(env))
	for k := range env {
		if strings.HasPrefix(k, "TF_") && !strings.HasPrefix(k, "TF_VAR_") || k == "HOME" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		field("env "+k, env[k])
	}
	field("cli-config", fileHash(cliConfigPath(env)))
	field("lock", fileHash(filepath.Join(x.projectDir, lockFileName)))
	hashModuleBlocks(h, x.projectDir)
	return hex.EncodeToString(h.Sum(nil))
}

// hashModuleBlocks writes the terraform and module blocks of every .tf file
// in dir, and of the local modules it calls (recursively), to h. A .tf.json
// file, or a .tf file that does not parse, is hashed whole.
func hashModuleBlocks(h interface{ Write([]byte) (int, error) }, dir string) {
	seen := map[string]bool{}
	queue := []string{dir}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		if seen[d] {
			continue
		}
		seen[d] = true
		fmt.Fprintf(h, "dir\x00%s\x00", d)
		entries, err := os.ReadDir(d)
		if err != nil {
			fmt.Fprintf(h, "unreadable\x00")
			continue
		}
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !(strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tf.json")) {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d, name))
			if err != nil {
				fmt.Fprintf(h, "file\x00%s\x00unreadable\x00", name)
				continue
			}
			f, diags := hclsyntax.ParseConfig(b, name, hcl.InitialPos)
			body, ok := f.Body.(*hclsyntax.Body)
			if strings.HasSuffix(name, ".json") || diags.HasErrors() || !ok {
				fmt.Fprintf(h, "file\x00%s\x00%d\x00%s\x00", name, len(b), b)
				continue
			}
			for _, blk := range body.Blocks {
				if blk.Type != "terraform" && blk.Type != "module" {
					continue
				}
				r := blk.Range()
				fmt.Fprintf(h, "block\x00%s\x00%s\x00", name, r.SliceBytes(b))
				if blk.Type != "module" {
					continue
				}
				if src, ok := blk.Body.Attributes["source"]; ok {
					if v, diags := src.Expr.Value(nil); !diags.HasErrors() && v.Type().FriendlyName() == "string" && v.IsKnown() && !v.IsNull() {
						s := v.AsString()
						if strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
							queue = append(queue, filepath.Join(d, s))
						}
					}
				}
			}
		}
	}
}

// cliConfigPath is the CLI config file terraform reads with env.
func cliConfigPath(env map[string]string) string {
	if p := env["TF_CLI_CONFIG_FILE"]; p != "" {
		return p
	}
	if p := env["TERRAFORM_CONFIG"]; p != "" {
		return p
	}
	if home := env["HOME"]; home != "" {
		return filepath.Join(home, ".terraformrc")
	}
	return ""
}

var pluginCacheDirRe = regexp.MustCompile(`(?m)^\s*plugin_cache_dir\s*=\s*"([^"]*)"`)

// pluginCache returns the provider plugin cache init uses with env, and
// whether it is Atoll's own (DataDir/plugin-cache), which the caller must then
// pass as TF_PLUGIN_CACHE_DIR. A cache the user set (TF_PLUGIN_CACHE_DIR, or
// plugin_cache_dir in the CLI config) is theirs and kept.
func (r *Runner) pluginCache(env map[string]string) (dir string, own bool) {
	if d := env["TF_PLUGIN_CACHE_DIR"]; d != "" {
		return d, false
	}
	if b, err := os.ReadFile(cliConfigPath(env)); err == nil {
		if m := pluginCacheDirRe.FindSubmatch(b); m != nil {
			return string(m[1]), false
		}
	}
	return filepath.Join(r.dataDir, "plugin-cache"), true
}

// lockPluginCache takes an exclusive file lock for the plugin cache dir,
// which terraform does not make safe for concurrent inits. The lock file is
// under DataDir/locks, so a user's own cache directory gets no stray files.
// It waits until the lock is free or ctx ends.
func (r *Runner) lockPluginCache(ctx context.Context, dir string) (unlock func(), err error) {
	sum := sha256.Sum256([]byte(filepath.Clean(dir)))
	return r.lockFile(ctx, filepath.Join(r.dataDir, "locks", "plugin-cache-"+hex.EncodeToString(sum[:8])+".lock"), "plugin cache")
}
