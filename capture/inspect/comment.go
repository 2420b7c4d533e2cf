package inspect

import (
	"regexp"
	"strconv"
	"strings"
)

// listenerWord maps the words a comment may use for a listener to what
// the port carries.
var listenerWord = map[string]Protocol{
	"mqtt": ProtoMQTT, "tcp": ProtoMQTT,
	"ws": ProtoWS, "websocket": ProtoWS,
	"mqtts": ProtoTLS, "mtls": ProtoTLS, "tls": ProtoTLS, "wss": ProtoTLS, "ssl": ProtoTLS,
}

// TODO(capture ring comment): the lab ring's pcapng comment format is not
// agreed with package capture yet. Until it is, ParsePortProtocols accepts
// what a person would write: "name=port" pairs ("mqtt=41883 ws=41885"),
// "name port" pairs, and URLs ("mqtts://127.0.0.1:41884"), separated by
// spaces, commas, semicolons or newlines. Settle the format with the
// capture package and replace this lenient parser by a strict one with a
// golden test on the capture package's own comment.
var (
	commentURL  = regexp.MustCompile(`\b([a-z]+)://[^\s,;/]*:(\d{1,5})`)
	commentPair = regexp.MustCompile(`\b([a-z]+)\s*[=:\s]\s*(?:[^\s,;=]*:)?(\d{1,5})\b`)
)

// ParsePortProtocols reads the listeners a capture's comments name: the
// lab writes its listeners' ports and protocols there, so its recording
// decodes without --ports (TLS and WebSocket on ephemeral ports cannot be
// recognised from a CONNECT).
func ParsePortProtocols(comments []string) map[uint16]Protocol {
	out := map[uint16]Protocol{}
	for _, c := range comments {
		c = strings.ToLower(c)
		for _, re := range []*regexp.Regexp{commentURL, commentPair} {
			for _, m := range re.FindAllStringSubmatch(c, -1) {
				proto, ok := listenerWord[m[1]]
				if !ok {
					continue
				}
				port, err := strconv.Atoi(m[2])
				if err != nil || port <= 0 || port > 65535 {
					continue
				}
				if _, seen := out[uint16(port)]; !seen {
					out[uint16(port)] = proto
				}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
