package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"

	version "github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
)

// tfFiles returns the Terraform files (*.tf, *.tf.json) directly in dir (repo-relative,
// "." for the root), as sorted repo-relative paths. Files are chosen by name, as
// terraform does; whether they can be read is readFile's concern.
func tfFiles(c *checkout, dir string) ([]string, error) {
	entries, err := c.readDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		n := e.Name()
		if strings.HasSuffix(n, ".tf") || strings.HasSuffix(n, ".tf.json") {
			out = append(out, path.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

var (
	tfSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "terraform"},
		{Type: "module", LabelNames: []string{"name"}},
	}}
	terraformSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "required_version"}}}
	moduleSchema    = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "source"}}}
)

// parsedDir is what Atoll reads from a directory's Terraform files.
type parsedDir struct {
	// requiredVersions are the literal required_version strings found.
	requiredVersions []string
	// moduleSources are the literal source strings of module blocks.
	moduleSources []string
}

// parseDir reads the Terraform files in dir (repo-relative). Files that cannot be
// read (too large, not regular, a symbolic link out of the repository) or do not
// parse are reported in the error but the others are still read.
func parseDir(c *checkout, dir string) (parsedDir, error) {
	var out parsedDir
	files, err := tfFiles(c, dir)
	if err != nil {
		return out, fmt.Errorf("read terraform files: %w", err)
	}
	var problems []error
	for _, f := range files {
		src, err := c.readFile(f, MaxTerraformFileSize)
		if err == nil {
			err = checkNesting(f, src)
		}
		if err != nil {
			problems = append(problems, err)
			continue
		}
		// Parse without hclparse.Parser, which would keep every file's syntax tree
		// until the directory is done.
		var file *hcl.File
		var diags hcl.Diagnostics
		if strings.HasSuffix(f, ".json") {
			file, diags = hcljson.Parse(src, f)
		} else {
			file, diags = hclsyntax.ParseConfig(src, f, hcl.InitialPos)
		}
		if diags.HasErrors() {
			problems = append(problems, fmt.Errorf("parse %s: %w", f, diags))
		}
		if file == nil || file.Body == nil {
			continue
		}
		content, _, _ := file.Body.PartialContent(tfSchema)
		if content == nil {
			continue
		}
		for _, b := range content.Blocks {
			switch b.Type {
			case "terraform":
				if s, ok := literalAttr(b.Body, terraformSchema, "required_version"); ok {
					out.requiredVersions = append(out.requiredVersions, s)
				}
			case "module":
				if s, ok := literalAttr(b.Body, moduleSchema, "source"); ok {
					out.moduleSources = append(out.moduleSources, s)
				}
			}
		}
	}
	return out, errors.Join(problems...)
}

// literalAttr returns the value of a string attribute written as a literal.
func literalAttr(body hcl.Body, schema *hcl.BodySchema, name string) (string, bool) {
	c, _, _ := body.PartialContent(schema)
	if c == nil {
		return "", false
	}
	a, ok := c.Attributes[name]
	if !ok {
		return "", false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type().FriendlyName() != "string" {
		return "", false
	}
	return v.AsString(), true
}

var exactVersionRe = regexp.MustCompile(`^=?\s*v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$`)

// RequiredVersion reads required_version from the terraform blocks of the Terraform
// files in projectDir. It returns the version when the constraint pins one exact
// version ("1.5.7" or "= 1.5.7"), and "" for a range (">= 1.5"), for no constraint,
// or when the files name none. An error means a file could not be read or parsed.
// Only files inside projectDir are read: a symbolic link that leads out of it is
// refused (see requiredVersion for reading a project within its repository).
func RequiredVersion(projectDir string) (string, error) {
	c := openCheckout(projectDir)
	defer c.close()
	return requiredVersion(c, ".")
}

// requiredVersion is RequiredVersion for the project in dir (repo-relative) of the
// working copy c, so that symbolic links to files elsewhere in the repository
// (a shared versions.tf) are followed.
func requiredVersion(c *checkout, dir string) (string, error) {
	pd, err := parseDir(c, dir)
	return exactOf(pd.requiredVersions), err
}

// exactOf returns the version all of the required_version constraints pin,
// or "" when they pin none. Terraform requires all constraints to hold;
// only a single exact pin is one version.
func exactOf(constraints []string) string {
	if len(constraints) == 0 {
		return ""
	}
	first := exactVersion(constraints[0])
	for _, v := range constraints[1:] {
		if exactVersion(v) != first {
			return ""
		}
	}
	return first
}

// requiredVersionSpec is what the project in dir (repo-relative) asks for in
// required_version: the exact version when the constraints pin one (as
// requiredVersion), else the constraints joined with ", " (terraform
// requires every one), for the runner to resolve against the releases. It is
// "" when there are none, or when one does not parse as a constraint (then
// terraform reports it).
func requiredVersionSpec(c *checkout, dir string) (string, error) {
	pd, err := parseDir(c, dir)
	if v := exactOf(pd.requiredVersions); v != "" || len(pd.requiredVersions) == 0 {
		return v, err
	}
	parts := make([]string, 0, len(pd.requiredVersions))
	for _, s := range pd.requiredVersions {
		s = strings.TrimSpace(s)
		if _, cerr := version.NewConstraint(s); cerr != nil {
			return "", err
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", "), err
}

func exactVersion(constraint string) string {
	if m := exactVersionRe.FindStringSubmatch(strings.TrimSpace(constraint)); m != nil {
		return m[1]
	}
	return ""
}

// repoGraph is what Atoll knows about a repository's Terraform layout.
type repoGraph struct {
	// tfDirs are the repo-relative directories holding Terraform files.
	tfDirs map[string]bool
	// calls maps a directory to the local module directories it calls.
	calls map[string][]string
	// callers maps a module directory to the directories that call it.
	callers map[string][]string
}

// skipDirs are never walked.
var skipDirs = map[string]bool{".git": true, ".terraform": true, ".terragrunt-cache": true, "node_modules": true}

// scanRepo walks the working copy, finding Terraform directories and their local
// module calls (module sources starting with ./ or ../ that stay inside the repo).
// Symbolic links to directories are not followed. Files that cannot be read or do
// not parse contribute no module calls; terraform reports them when the project
// plans.
func scanRepo(c *checkout) (*repoGraph, error) {
	g := &repoGraph{tfDirs: map[string]bool{}, calls: map[string][]string{}, callers: map[string][]string{}}
	err := c.walkDir(func(rel string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			return nil
		}
		if rel != "." && skipDirs[e.Name()] {
			return fs.SkipDir
		}
		files, err := tfFiles(c, rel)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return nil
		}
		g.tfDirs[rel] = true
		pd, _ := parseDir(c, rel)
		for _, src := range pd.moduleSources {
			if !strings.HasPrefix(src, "./") && !strings.HasPrefix(src, "../") {
				continue
			}
			target := path.Clean(path.Join(rel, src))
			if target == ".." || strings.HasPrefix(target, "../") || target == rel {
				continue
			}
			if !contains(g.calls[rel], target) {
				g.calls[rel] = append(g.calls[rel], target)
				g.callers[target] = append(g.callers[target], rel)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan the repository for terraform files: %w", err)
	}
	return g, nil
}

// isModule says whether dir is a module rather than a root project: another
// directory calls it, or it lies under a directory named "modules".
func (g *repoGraph) isModule(dir string) bool {
	if len(g.callers[dir]) > 0 {
		return true
	}
	for _, part := range strings.Split(dir, "/") {
		if part == "modules" {
			return true
		}
	}
	return false
}

// deps returns every module directory dir uses, directly or through other modules.
func (g *repoGraph) deps(dir string) map[string]bool {
	seen := map[string]bool{}
	stack := append([]string{}, g.calls[dir]...)
	for len(stack) > 0 {
		m := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[m] {
			continue
		}
		seen[m] = true
		stack = append(stack, g.calls[m]...)
	}
	return seen
}

// rootsUsing returns the root (non-module) directories that use module dir,
// directly or transitively, sorted.
func (g *repoGraph) rootsUsing(dir string) []string {
	seen := map[string]bool{dir: true}
	var roots []string
	stack := append([]string{}, g.callers[dir]...)
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[c] {
			continue
		}
		seen[c] = true
		if g.isModule(c) {
			stack = append(stack, g.callers[c]...)
			continue
		}
		roots = append(roots, c)
	}
	sort.Strings(roots)
	return roots
}

// moduleOf returns the nearest directory at or above file's directory that is a
// called module, or "".
func (g *repoGraph) moduleOf(file string) string {
	for d := path.Dir(file); ; d = path.Dir(d) {
		if len(g.callers[d]) > 0 {
			return d
		}
		if d == "." || d == "/" {
			return ""
		}
	}
}
