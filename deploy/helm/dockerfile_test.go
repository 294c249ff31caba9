package helm

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/atollhq/atoll/internal/testenv"
)

// TestDockerfileMatchesChart checks the chart's defaults against the image
// the Dockerfile builds (no image is built here): the pod's uid and gid are
// the image's user, the data volume is mounted at the image's data dir, the
// container port is the one the image exposes, and the chart starts the
// image's entrypoint with the server subcommand.
func TestDockerfileMatchesChart(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := parseDockerfile(string(b))

	// The runtime stage's user, as numbers.
	uid, gid, ok := strings.Cut(df.last("USER"), ":")
	if _, err := strconv.Atoi(uid); err != nil || !ok {
		t.Fatalf("the Dockerfile's USER is %q, want numeric UID:GID (Kubernetes checks runAsNonRoot only for a numeric user)", df.last("USER"))
	}
	run := strings.Join(df.all("RUN"), "\n")
	if !regexp.MustCompile(`useradd\b.*--uid ` + uid + `\b.*--gid ` + gid + `\b`).MatchString(run) {
		t.Errorf("no useradd --uid %s --gid %s in the Dockerfile's RUN steps: the USER must exist in the image", uid, gid)
	}
	if !regexp.MustCompile(`groupadd\b.*--gid ` + gid + `\b`).MatchString(run) {
		t.Errorf("no groupadd --gid %s in the Dockerfile's RUN steps", gid)
	}

	values := readValues(t, filepath.Join(chartDir, "values.yaml"))
	for _, sc := range []string{"podSecurityContext", "securityContext"} {
		for field, want := range map[string]string{"runAsUser": uid, "runAsGroup": gid} {
			if got := fmt.Sprint(section(values, sc)[field]); got != want {
				t.Errorf("values %s.%s is %s, the Dockerfile's USER %s", sc, field, got, want)
			}
		}
	}
	if got := fmt.Sprint(section(values, "podSecurityContext")["fsGroup"]); got != gid {
		t.Errorf("values podSecurityContext.fsGroup is %s, want the image's gid %s", got, gid)
	}

	// The data dir: the image's ATOLL_DATA_DIR, its VOLUME, made for the
	// user, and where the chart mounts the data volume.
	dataDir := df.env("ATOLL_DATA_DIR")
	if dataDir == "" {
		t.Fatal("the Dockerfile sets no ATOLL_DATA_DIR")
	}
	if got := section(values, "server")["dataDir"]; got != dataDir {
		t.Errorf("values server.dataDir is %v, the image's ATOLL_DATA_DIR %s", got, dataDir)
	}
	if !slices.Contains(df.all("VOLUME"), dataDir) {
		t.Errorf("the Dockerfile's VOLUMEs %q lack the data dir %s", df.all("VOLUME"), dataDir)
	}
	if !regexp.MustCompile(`install -d -o ` + uid + ` -g ` + gid + `\b.* ` + regexp.QuoteMeta(dataDir) + `\b`).MatchString(run) {
		t.Errorf("the Dockerfile does not create %s for %s:%s: a new Docker volume there would belong to root", dataDir, uid, gid)
	}

	// The port and the command.
	if got := fmt.Sprint(section(values, "server")["port"]); !slices.Contains(df.all("EXPOSE"), got) {
		t.Errorf("values server.port is %s; the Dockerfile exposes %q", got, df.all("EXPOSE"))
	}
	if df.last("ENTRYPOINT") != `["atoll"]` || df.last("CMD") != `["server"]` {
		t.Errorf("ENTRYPOINT %s CMD %s, want [\"atoll\"] and [\"server\"]: the chart runs the entrypoint with args [server]", df.last("ENTRYPOINT"), df.last("CMD"))
	}
	m := lintAndRender(t, "-f", filepath.Join("testdata", "default.yaml"))
	_, c := m.statefulSet(t)
	if mount := mountAt(c, dataDir); mount == nil {
		t.Errorf("the chart mounts nothing at the image's data dir %s", dataDir)
	}
}

// dockerfile is the instructions of a Dockerfile's last stage (the runtime
// image), continuation lines joined.
type dockerfile struct{ instr [][2]string }

func parseDockerfile(s string) dockerfile {
	var df dockerfile
	s = strings.ReplaceAll(s, "\\\n", " ")
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, arg, _ := strings.Cut(line, " ")
		op = strings.ToUpper(op)
		if op == "FROM" {
			df.instr = nil
		}
		df.instr = append(df.instr, [2]string{op, strings.Join(strings.Fields(arg), " ")})
	}
	return df
}

// all returns the arguments of every op instruction.
func (d dockerfile) all(op string) []string {
	var out []string
	for _, in := range d.instr {
		if in[0] == op {
			out = append(out, in[1])
		}
	}
	return out
}

// last returns the arguments of the last op instruction.
func (d dockerfile) last(op string) string {
	all := d.all(op)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1]
}

// env returns the value an ENV instruction sets name to.
func (d dockerfile) env(name string) string {
	v := ""
	for _, arg := range d.all("ENV") {
		if k, val, ok := strings.Cut(arg, "="); ok && k == name {
			v = val
		}
	}
	return v
}
