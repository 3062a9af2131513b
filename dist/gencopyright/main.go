// Command gencopyright writes the Debian copyright file (machine-readable
// format 1.0) that the packages and tarballs ship: raftsnap's own licence,
// then one paragraph per Go module compiled into the binary (with the
// copyright lines of its licence file and the text of its NOTICE file, which
// Apache-2.0 asks to pass on), then the Go runtime and standard library.
// The list comes from `go list -deps` over the same package and build tags
// as the release binaries, so it cannot drift from go.mod. A licence it does
// not recognise is an error: the file must stay complete. `make dist` runs
// it from the module root:
//
//	go run ./dist/gencopyright -o dist/out/copyright
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
)

func main() {
	out := flag.String("o", "", "write the copyright file here (default: standard output)")
	goBin := flag.String("go", "go", "the go command")
	tags := flag.String("tags", "disable_grpc_modules isal,disable_grpc_modules", "space-separated build tag sets to list dependencies for, each a comma-separated list of tags (the Makefile's TAGS for the .rpm and tarballs, with isal for the .deb)")
	flag.Parse()
	if err := run(*out, *goBin, strings.Fields(*tags)); err != nil {
		fmt.Fprintln(os.Stderr, "gencopyright:", err)
		os.Exit(1)
	}
}

func run(out, goBin string, tagSets []string) error {
	mods := map[string]module{}
	goVersion := runtime.Version()
	for _, tags := range tagSets {
		listed, v, err := listModules(goBin, tags)
		if err != nil {
			return err
		}
		goVersion = v
		for _, m := range listed {
			mods[m.Path] = m
		}
	}
	var list []module
	for _, m := range mods {
		list = append(list, m)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Path < list[j].Path })

	var buf bytes.Buffer
	if err := write(&buf, list, goVersion); err != nil {
		return err
	}
	if out == "" {
		_, err := os.Stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

type module struct {
	Path, Version, Dir string
	Replace            *module
}

// listModules returns the modules (not the main one, not the standard
// library) whose packages the raftsnap binary links for linux with tags,
// and the Go version that builds it.
func listModules(goBin, tags string) ([]module, string, error) {
	cmd := exec.Command(goBin, "list", "-deps", "-tags", tags, "-json=Standard,Module", ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOFLAGS=-mod=readonly")
	cmd.Stderr = os.Stderr
	data, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("go list (tags %q): %w", tags, err)
	}
	seen := map[string]bool{}
	var mods []module
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var p struct {
			Standard bool
			Module   *struct {
				module
				Main bool
			}
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, "", err
		}
		if p.Standard || p.Module == nil || p.Module.Main || seen[p.Module.Path] {
			continue
		}
		seen[p.Module.Path] = true
		m := p.Module.module
		if m.Replace != nil {
			m.Version, m.Dir = m.Replace.Version, m.Replace.Dir
		}
		mods = append(mods, m)
	}
	v, err := exec.Command(goBin, "env", "GOVERSION").Output()
	if err != nil {
		return nil, "", fmt.Errorf("go env GOVERSION: %w", err)
	}
	return mods, strings.TrimSpace(string(v)), nil
}

// licenceMarkers recognise a licence by a sentence only its text has. A file
// may hold several licences (yaml.v3: MIT and Apache-2.0 for different
// files; klauspost/compress: BSD, Apache-2.0 and MIT).
var licenceMarkers = []struct {
	name    string
	matches func(text string) bool
}{
	{"MPL-2.0", func(t string) bool {
		return strings.Contains(t, "Mozilla Public License Version 2.0") || strings.Contains(t, "Mozilla Public License, version 2.0")
	}},
	{"Apache-2.0", func(t string) bool {
		return strings.Contains(t, "Apache License") && strings.Contains(t, "Version 2.0") && strings.Contains(t, "TERMS AND CONDITIONS") ||
			strings.Contains(t, "Licensed under the Apache License, Version 2.0")
	}},
	{"BSD-3-clause", func(t string) bool {
		return strings.Contains(t, "Redistribution and use in source and binary forms") && strings.Contains(t, "Neither the name")
	}},
	{"BSD-2-clause", func(t string) bool {
		return strings.Contains(t, "Redistribution and use in source and binary forms") && !strings.Contains(t, "Neither the name")
	}},
	{"Expat", func(t string) bool {
		return strings.Contains(t, "Permission is hereby granted, free of charge, to any person obtaining a copy")
	}},
	{"ISC", func(t string) bool {
		return strings.Contains(t, "Permission to use, copy, modify, and/or distribute this software for any purpose with or without fee")
	}},
}

// classify names the licences a licence file holds, in licenceMarkers order.
func classify(text string) []string {
	text = strings.Join(strings.Fields(text), " ")
	var names []string
	for _, m := range licenceMarkers {
		if m.matches(text) {
			names = append(names, m.name)
		}
	}
	return names
}

var (
	copyrightLine = regexp.MustCompile(`^\s*(?:>\s*)?(?:Portions )?Copyright\b(?:\s*(?:\([cC]\)|©))?\s*(.*\S)\s*$`)
	placeholder   = regexp.MustCompile(`\[yyyy\]|\{yyyy\}|\[name of copyright owner\]`)
)

// copyrights returns the copyright statements of a licence file, without
// the word "Copyright" and the (c) sign, skipping the Apache licence's
// template line.
func copyrights(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		m := copyrightLine.FindStringSubmatch(line)
		if m == nil || placeholder.MatchString(line) || !strings.ContainsAny(m[1], "0123456789") && !strings.Contains(line, "(c)") && !strings.Contains(line, "©") {
			continue
		}
		if s := m[1]; !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying)(\.md|\.txt)?$`)

func readLicence(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var texts []string
	for _, e := range entries {
		if e.Type().IsRegular() && licenceFile.MatchString(e.Name()) {
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				return "", err
			}
			texts = append(texts, string(data))
		}
	}
	if len(texts) == 0 {
		return "", fmt.Errorf("no LICENSE or COPYING file in %s", dir)
	}
	return strings.Join(texts, "\n"), nil
}

func readNotice(dir string) string {
	for _, name := range []string{"NOTICE", "NOTICE.txt", "NOTICE.md"} {
		if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	return ""
}

// field formats a multi-line field value: continuation lines start with a
// space, and empty lines are written as " .".
func field(name, first string, rest []string) string {
	var b strings.Builder
	b.WriteString(name + ": " + first + "\n")
	for _, l := range rest {
		l = strings.TrimRight(l, " \t\r")
		if l == "" {
			l = "."
		}
		b.WriteString(" " + l + "\n")
	}
	return b.String()
}

func write(w io.Writer, mods []module, goVersion string) error {
	used := map[string]bool{"MPL-2.0": true, "BSD-3-clause": true}
	fmt.Fprint(w, `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: raftsnap
Upstream-Contact: raftsnap maintainers <raftsnap@users.noreply.github.com>
Source: https://github.com/raftsnap/raftsnap
`)
	fmt.Fprint(w, field("Comment", "/usr/bin/raftsnap is one Go program. Besides raftsnap's own code it holds", []string{
		"the Go runtime and standard library and the Go modules listed below, at",
		"the versions given; the vendor/ paths are where `go mod vendor` puts",
		"them. Generated by dist/gencopyright from `go list -deps`. The ISA-L",
		"library (Debian package libisal2) is linked dynamically, not included.",
	}))
	fmt.Fprint(w, "\nFiles: *\nCopyright: 2026 The raftsnap authors\nLicense: MPL-2.0\n")
	for _, m := range mods {
		text, err := readLicence(m.Dir)
		if err != nil {
			return fmt.Errorf("%s %s: %w", m.Path, m.Version, err)
		}
		names := classify(text)
		if len(names) == 0 {
			return fmt.Errorf("%s %s: licence not recognised (add it to licenceMarkers with its text)", m.Path, m.Version)
		}
		for _, n := range names {
			used[n] = true
		}
		notice := readNotice(m.Dir)
		holders := copyrights(text)
		if len(holders) == 0 {
			holders = copyrights(notice)
		}
		if len(holders) == 0 {
			holders = []string{"The " + m.Path + " authors"}
		}
		fmt.Fprintf(w, "\nFiles: vendor/%s/*\n", m.Path)
		fmt.Fprint(w, field("Copyright", holders[0], holders[1:]))
		fmt.Fprintf(w, "License: %s\n", strings.Join(names, " and "))
		comment := []string{}
		if notice != "" {
			comment = append(comment, "Its NOTICE file says:", "")
			for _, l := range strings.Split(notice, "\n") {
				if strings.TrimSpace(l) == "" && comment[len(comment)-1] == "" {
					continue // one empty line at most
				}
				comment = append(comment, l)
			}
		}
		fmt.Fprint(w, field("Comment", "Go module "+m.Path+" "+m.Version+".", comment))
	}
	fmt.Fprintf(w, "\nFiles: vendor/std/*\nCopyright: 2009 The Go Authors\nLicense: BSD-3-clause\nComment: The Go runtime and standard library (%s).\n", goVersion)

	for _, name := range []string{"MPL-2.0", "Apache-2.0", "BSD-2-clause", "BSD-3-clause", "Expat", "ISC"} {
		if used[name] {
			fmt.Fprintf(w, "\n%s", licenceTexts[name])
		}
	}
	return nil
}

// licenceTexts are the stand-alone licence paragraphs. Licences that Debian
// ships in /usr/share/common-licenses are referred to there; the others are
// given in full, as the copyright format asks.
// The BSD licences' parts: BSD-3-clause is BSD-2-clause with a third
// condition before the disclaimer.
const (
	bsdConditions = ` Redistribution and use in source and binary forms, with or without
 modification, are permitted provided that the following conditions are
 met:
 .
 1. Redistributions of source code must retain the above copyright
 notice, this list of conditions and the following disclaimer.
 .
 2. Redistributions in binary form must reproduce the above copyright
 notice, this list of conditions and the following disclaimer in the
 documentation and/or other materials provided with the distribution.
 .
`
	bsdNoEndorsement = ` 3. Neither the name of the copyright holder nor the names of its
 contributors may be used to endorse or promote products derived from
 this software without specific prior written permission.
 .
`
	bsdDisclaimer = ` THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS
 "AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT
 LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR
 A PARTICULAR PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT
 HOLDER OR CONTRIBUTORS BE LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL,
 SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT
 LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF USE,
 DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY
 THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
 (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
 OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
`
)

var licenceTexts = map[string]string{
	"MPL-2.0": `License: MPL-2.0
 This Source Code Form is subject to the terms of the Mozilla Public
 License, v. 2.0. If a copy of the MPL was not distributed with this
 file, You can obtain one at https://mozilla.org/MPL/2.0/.
 .
 On Debian systems, the complete text of the Mozilla Public License
 Version 2.0 can be found in "/usr/share/common-licenses/MPL-2.0".
`,
	"Apache-2.0": `License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 https://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
 .
 On Debian systems, the complete text of the Apache License Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
`,
	"BSD-2-clause": "License: BSD-2-clause\n" + bsdConditions + bsdDisclaimer,
	"BSD-3-clause": "License: BSD-3-clause\n" + bsdConditions + bsdNoEndorsement + bsdDisclaimer,
	"Expat": `License: Expat
 Permission is hereby granted, free of charge, to any person obtaining a
 copy of this software and associated documentation files (the
 "Software"), to deal in the Software without restriction, including
 without limitation the rights to use, copy, modify, merge, publish,
 distribute, sublicense, and/or sell copies of the Software, and to
 permit persons to whom the Software is furnished to do so, subject to
 the following conditions:
 .
 The above copyright notice and this permission notice shall be included
 in all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS
 OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
 MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
 IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY
 CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT,
 TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE
 SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
`,
	"ISC": `License: ISC
 Permission to use, copy, modify, and/or distribute this software for any
 purpose with or without fee is hereby granted, provided that the above
 copyright notice and this permission notice appear in all copies.
 .
 THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
 WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
 MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
 ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
 WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
 ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
 OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
`,
}
