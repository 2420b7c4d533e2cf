package inspect

import "strings"

// TopicMatches reports whether a topic name matches an MQTT topic filter
// (+ one level, # the rest; topics starting with $ match no wildcard at
// the first level, as MQTT 3.1.1 4.7.2 says).
func TopicMatches(filter, topic string) bool {
	if filter == "#" {
		return !strings.HasPrefix(topic, "$")
	}
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		tl, trest, tmore := strings.Cut(topic, "/")
		switch {
		case fl == "#":
			return true
		case fl != "+" && fl != tl:
			return false
		}
		if !fmore || !tmore {
			// a/# also matches a itself.
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

func matchesAny(filters []string, topic string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if TopicMatches(f, topic) {
			return true
		}
	}
	return false
}

// matchesFilterAny: a subscription's filter is kept when some topic could
// match both it and one of the -t filters.
func matchesFilterAny(filters []string, filter string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if filtersOverlap(f, filter) {
			return true
		}
	}
	return false
}

func filtersOverlap(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; ; i++ {
		switch {
		case i < len(as) && as[i] == "#", i < len(bs) && bs[i] == "#":
			return true
		case i == len(as) || i == len(bs):
			return len(as) == len(bs)
		case as[i] == "+" || bs[i] == "+" || as[i] == bs[i]:
			continue
		default:
			return false
		}
	}
}

// emit counts a packet and hands it to OnMessage when it passes the
// filters: the client filter; with -t, only PUBLISH, SUBSCRIBE and
// UNSUBSCRIBE of matching topics and their acknowledgements.
func (an *analysis) emit(s *session, dir int, m *Message) {
	if !s.info.included {
		return
	}
	if len(an.filters) > 0 && !an.topicPass(s, dir, m) {
		return
	}
	an.res.Messages++
	s.d.message(m)
}

func (an *analysis) topicPass(s *session, dir int, m *Message) bool {
	switch m.Type {
	case Publish:
		return matchesAny(an.filters, m.Topic)
	case Subscribe, Unsubscribe:
		for _, f := range m.Filters {
			if matchesFilterAny(an.filters, f.Filter) {
				return true
			}
		}
		return false
	case Puback, Pubrec, Pubcomp:
		f, ok := s.flows[other(dir)][m.PacketID]
		return ok && f.topic != nil && f.topic.included
	case Pubrel:
		f, ok := s.flows[dir][m.PacketID]
		return ok && f.topic != nil && f.topic.included
	}
	return false
}
