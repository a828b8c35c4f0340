//! A produced JUnit read with an XML parser, the way Polarion's importer reads it: the run's
//! properties under `<testsuites>`, and each `<testcase>` with its properties.

use quick_xml::events::Event;

/// A `<testcase>`: its name and its properties in order.
pub struct Case {
    pub name: String,
    pub properties: Vec<(String, String)>,
}

impl Case {
    /// The values of property `key`.
    pub fn values(&self, key: &str) -> Vec<&str> {
        self.properties
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub struct Junit {
    /// `<testsuites><properties>`: what the importer reads as the test run's.
    pub run: Vec<(String, String)>,
    pub cases: Vec<Case>,
}

pub fn parse(xml: &str) -> Junit {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut open: Vec<String> = Vec::new();
    let mut junit = Junit {
        run: Vec::new(),
        cases: Vec::new(),
    };
    loop {
        let (e, empty) = match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(_) => {
                open.pop();
                continue;
            }
            Event::Eof => return junit,
            _ => continue,
        };
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let attr = |key: &str| {
            e.attributes()
                .map(|a| a.expect("attribute"))
                .find(|a| a.key.as_ref() == key.as_bytes())
                .map(|a| a.unescape_value().expect("value").into_owned())
                .unwrap_or_default()
        };
        let within = open.join("/");
        match name.as_str() {
            "testcase" => junit.cases.push(Case {
                name: attr("name"),
                properties: Vec::new(),
            }),
            "property" if within == "testsuites/properties" => {
                junit.run.push((attr("name"), attr("value")))
            }
            "property" if within.ends_with("testcase/properties") => junit
                .cases
                .last_mut()
                .expect("a testcase around its properties")
                .properties
                .push((attr("name"), attr("value"))),
            _ => {}
        }
        if !empty {
            open.push(name);
        }
    }
}
