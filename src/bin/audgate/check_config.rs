//! `audgate check-config FILE`: validates each configuration in the file as the
//! filter's `on_configure` would, printing the offending field of each refused one.

use audgate::config::Config;

use crate::plugin_file;

/// Runs the command; `Ok(false)` when any configuration is refused.
pub fn run(args: &[String]) -> Result<bool, String> {
    let [path] = args else {
        return Err("check-config takes one FILE".into());
    };
    let mut all_valid = true;
    for found in plugin_file::read(path)? {
        match Config::from_json(found.json.as_bytes()) {
            Ok(config) => println!(
                "{}: valid ({} provider(s), {} rule(s))",
                found.label,
                config.providers.len(),
                config.rules.len()
            ),
            Err(error) => {
                all_valid = false;
                println!("{}: error: {}: {}", found.label, error.field, error.problem);
            }
        }
    }
    Ok(all_valid)
}
