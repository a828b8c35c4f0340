//! Kubernetes quantities (`1Gi`, `350M`, `200m`, `5Mi`) as numbers, and back.

/// The value of a quantity: bytes for memory, cores for CPU (`200m` = 0.2).
pub fn parse(quantity: &str) -> Option<f64> {
    let q = quantity.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0f64.powi(4),
        _ => return None,
    };
    Some(number * factor)
}

/// A quantity as JSON may hold it: a string or a bare number.
pub fn of(value: &serde_json::Value) -> Option<f64> {
    match value {
        serde_json::Value::String(s) => parse(s),
        serde_json::Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
pub const MIB: f64 = 1024.0 * 1024.0;

/// Bytes in the largest binary unit that divides them (`1Gi`, `1042Mi`, `512Ki`).
pub fn bytes(value: u64) -> String {
    for (unit, size) in [
        ("Ti", 1u64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if value >= size && value.is_multiple_of(size) {
            return format!("{}{unit}", value / size);
        }
    }
    value.to_string()
}

/// CPU in millicores (`400m`), or whole cores when it divides.
pub fn cpu(millicores: u64) -> String {
    if millicores.is_multiple_of(1000) {
        (millicores / 1000).to_string()
    } else {
        format!("{millicores}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_decimal_and_milli_units() {
        assert_eq!(parse("1Gi"), Some(GIB));
        assert_eq!(parse("350M"), Some(350e6));
        assert_eq!(parse("200m"), Some(0.2));
        assert_eq!(parse("5Mi"), Some(5.0 * MIB));
        assert_eq!(parse("0Mi"), Some(0.0));
        assert_eq!(parse("12"), Some(12.0));
        assert_eq!(parse("1Qi"), None);
        assert_eq!(parse("Gi"), None);
    }

    #[test]
    fn formats_in_the_largest_whole_unit() {
        assert_eq!(bytes(1 << 30), "1Gi");
        assert_eq!(bytes(1042 << 20), "1042Mi");
        assert_eq!(bytes(1000), "1000");
        assert_eq!(cpu(400), "400m");
        assert_eq!(cpu(2000), "2");
    }
}
