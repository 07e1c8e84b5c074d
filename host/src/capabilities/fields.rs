//! The `fields` import: the ticket's custom fields by name. A brand lists the fields
//! its plugin may use (`[brands.X.fields] allowed`) and defaults for a solve
//! (`on_solve`); the gateway resolves the names to the environment's field ids once
//! (at start and on reload, from `GET /api/v2/ticket_fields`), so a run only compares
//! strings. Values cross the contract as text and are turned into what Zendesk stores
//! (a drop-down's tag, a boolean, a number...) here, so a wrong value is refused at
//! `set` rather than by Zendesk at the commit.

use super::context::RunContext;
use crate::bindings::zendesk_gateway::plugin::fields;
use crate::bindings::PluginError;
use crate::config::Brand;
use crate::zendesk::account::{TicketField, TicketForm};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest value a plugin may set on one field.
pub const MAX_FIELD_VALUE_BYTES: usize = 4096;

/// System field types: not custom fields a plugin can set by name.
const SYSTEM_KINDS: &[&str] = &[
    "subject",
    "description",
    "status",
    "tickettype",
    "priority",
    "group",
    "assignee",
    "brand",
    "custom_status",
];

/// An environment's ticket fields and forms, by id and by title.
#[derive(Debug, Default)]
pub struct FieldCatalog {
    fields: BTreeMap<u64, TicketField>,
    forms: Vec<TicketForm>,
}

impl FieldCatalog {
    /// The catalog of `fields` and `forms` as Zendesk listed them.
    pub fn new(fields: Vec<TicketField>, forms: Vec<TicketForm>) -> FieldCatalog {
        FieldCatalog {
            fields: fields.into_iter().map(|f| (f.id, f)).collect(),
            forms,
        }
    }

    /// The field with this id.
    pub fn by_id(&self, id: u64) -> Option<&TicketField> {
        self.fields.get(&id)
    }

    /// The active custom field titled `name` (case and surrounding spaces ignored).
    pub fn by_name(&self, name: &str) -> Option<&TicketField> {
        let name = name.trim();
        self.fields
            .values()
            .filter(|f| f.active && is_custom(f))
            .find(|f| f.title.trim().eq_ignore_ascii_case(name))
    }

    /// The active custom fields' titles, for "known: ..." in messages.
    fn titles(&self) -> String {
        let t: Vec<&str> = self
            .fields
            .values()
            .filter(|f| f.active && is_custom(f))
            .map(|f| f.title.as_str())
            .collect();
        if t.is_empty() {
            "none".into()
        } else {
            t.join(", ")
        }
    }

    /// `text` with every field id it mentions followed by the field's name, so that
    /// Zendesk's "Field 360001 is required" reads `Field 360001 ("Reason for
    /// contact") is required`.
    pub fn name_ids_in(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut digits = String::new();
        let flush = |digits: &mut String, out: &mut String| {
            out.push_str(digits);
            if let Some(f) = digits
                .parse::<u64>()
                .ok()
                .and_then(|id| self.fields.get(&id))
            {
                out.push_str(&format!(" ({:?})", f.title));
            }
            digits.clear();
        };
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
            } else {
                flush(&mut digits, &mut out);
                out.push(c);
            }
        }
        flush(&mut digits, &mut out);
        out
    }
}

fn is_custom(f: &TicketField) -> bool {
    f.removable && !SYSTEM_KINDS.contains(&f.kind.as_str())
}

/// A field of the brand's config, resolved in one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedField {
    /// The field as Zendesk described it.
    pub field: TicketField,
}

/// A brand's fields in one environment: what its plugin may use, and the defaults a
/// solve fills in.
#[derive(Debug, Clone, Default)]
pub struct BrandFields {
    /// Fields the plugin may read and set.
    pub allowed: Vec<ResolvedField>,
    /// Values for fields left empty when the AI solves: (field, value as stored).
    pub on_solve: Vec<(ResolvedField, Value)>,
}

impl BrandFields {
    /// Resolves `brand`'s field names in `catalog`. An unknown name or a default the
    /// field cannot hold is an error naming the brand, the key and the known fields.
    pub fn resolve(brand: &Brand, catalog: &FieldCatalog) -> Result<BrandFields, String> {
        let find = |name: &str, key: &str| {
            catalog
                .by_name(name)
                .cloned()
                .map(|field| ResolvedField { field })
                .ok_or_else(|| {
                    format!(
                        "brands.{}.fields.{key}: no active custom ticket field titled {name:?} in Zendesk (known: {})",
                        brand.name,
                        catalog.titles()
                    )
                })
        };
        let mut allowed = Vec::new();
        for name in &brand.fields.allowed {
            allowed.push(find(name, "allowed")?);
        }
        let mut on_solve = Vec::new();
        for (name, text) in &brand.fields.on_solve {
            let f = find(name, "on_solve")?;
            let value = to_value(&f.field, text)
                .map_err(|e| format!("brands.{}.fields.on_solve.{name}: {e}", brand.name))?;
            on_solve.push((f, value));
        }
        Ok(BrandFields { allowed, on_solve })
    }

    /// The allowed field named `name`.
    pub fn allowed(&self, name: &str) -> Option<&ResolvedField> {
        let name = name.trim();
        self.allowed
            .iter()
            .find(|f| f.field.title.trim().eq_ignore_ascii_case(name))
    }
}

/// `text` as the value Zendesk stores for `field`, or why it cannot be.
pub fn to_value(field: &TicketField, text: &str) -> Result<Value, String> {
    let text = text.trim();
    if text.len() > MAX_FIELD_VALUE_BYTES {
        return Err(format!("a value is at most {MAX_FIELD_VALUE_BYTES} bytes"));
    }
    let option = |t: &str| {
        field
            .custom_field_options
            .iter()
            .find(|o| o.name.trim().eq_ignore_ascii_case(t.trim()) || o.value == t.trim())
            .map(|o| o.value.clone())
            .ok_or_else(|| {
                format!(
                    "{t:?} is not an option of {:?} (options: {})",
                    field.title,
                    field
                        .custom_field_options
                        .iter()
                        .map(|o| o.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    };
    match field.kind.as_str() {
        _ if text.is_empty() => Ok(Value::Null),
        "checkbox" => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!(
                "{:?} is a checkbox: true or false, not {text:?}",
                field.title
            )),
        },
        "integer" => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{:?} holds a whole number, not {text:?}", field.title)),
        "decimal" => text
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Value::from)
            .ok_or_else(|| format!("{:?} holds a number, not {text:?}", field.title)),
        "date" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(|_| Value::String(text.to_string()))
            .map_err(|_| format!("{:?} holds a date YYYY-MM-DD, not {text:?}", field.title)),
        "tagger" => option(text).map(Value::String),
        "multiselect" => text
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| option(t).map(Value::String))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// A stored value as the text a plugin reads (a drop-down's option name, not its tag);
/// `None` when empty.
pub fn to_text(field: &TicketField, value: &Value) -> Option<String> {
    let name_of = |tag: &str| {
        field
            .custom_field_options
            .iter()
            .find(|o| o.value == tag)
            .map_or_else(|| tag.to_string(), |o| o.name.clone())
    };
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) if field.kind == "tagger" => Some(name_of(s)),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), name_of))
                .collect::<Vec<_>>()
                .join(","),
        ),
        Value::Object(_) => Some(value.to_string()),
    }
}

/// Whether a stored value counts as empty for Zendesk's required-to-solve check.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Bool(b) => !b,
        _ => false,
    }
}

/// A field Zendesk requires to solve a brand's tickets, as `check --online` and
/// `setup` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredField {
    /// The field's id.
    pub id: u64,
    /// Its title.
    pub name: String,
    /// `None`: always required to solve; else the form and condition that make it so.
    pub condition: Option<String>,
    /// Whether the brand's `on_solve` gives it a value.
    pub has_default: bool,
    /// Whether the plugin may set it (`allowed`), which nothing guarantees it does.
    pub plugin_may_set: bool,
}

/// The fields required to solve tickets of a brand whose Zendesk brand is `brand_id`
/// (every form counts when unknown): fields marked "required to solve", and fields a
/// form's agent condition makes required on solved.
pub fn required_to_solve(
    catalog: &FieldCatalog,
    brand: &Brand,
    brand_id: Option<u64>,
) -> Vec<RequiredField> {
    let defaults: Vec<String> = brand
        .fields
        .on_solve
        .keys()
        .map(|n| n.trim().to_lowercase())
        .collect();
    let allowed: Vec<String> = brand
        .fields
        .allowed
        .iter()
        .map(|n| n.trim().to_lowercase())
        .collect();
    let entry = |f: &TicketField, condition: Option<String>| RequiredField {
        id: f.id,
        name: f.title.clone(),
        condition,
        has_default: defaults.contains(&f.title.trim().to_lowercase()),
        plugin_may_set: allowed.contains(&f.title.trim().to_lowercase()),
    };
    let mut out: Vec<RequiredField> = catalog
        .fields
        .values()
        .filter(|f| f.active && f.required && is_custom(f))
        .map(|f| entry(f, None))
        .collect();
    let forms = catalog.forms.iter().filter(|form| {
        form.active
            && (form.in_all_brands
                || brand_id.is_none_or(|b| form.restricted_brand_ids.contains(&b)))
    });
    for form in forms {
        for cond in &form.agent_conditions {
            for child in cond.child_fields.iter().filter(|c| c.required_to_solve()) {
                let Some(f) = catalog.by_id(child.id).filter(|f| f.active) else {
                    continue;
                };
                if out.iter().any(|r| r.id == f.id && r.condition.is_none()) {
                    continue;
                }
                let parent = catalog.by_id(cond.parent_field_id).map_or_else(
                    || cond.parent_field_id.to_string(),
                    |p| format!("{:?}", p.title),
                );
                let value = cond
                    .value
                    .as_str()
                    .map_or_else(|| cond.value.to_string(), str::to_string);
                out.push(entry(
                    f,
                    Some(format!("on form {:?} when {parent} is {value}", form.name)),
                ));
            }
        }
    }
    out
}

/// The problems `check --online` and `setup` report for a brand: fields Zendesk needs
/// to solve its tickets that the AI cannot fill (no `on_solve` default), each with how
/// to fix it. Empty when every solve can succeed.
pub fn required_field_problems(
    catalog: &FieldCatalog,
    brand: &Brand,
    brand_id: Option<u64>,
) -> Vec<String> {
    required_to_solve(catalog, brand, brand_id)
        .into_iter()
        .filter(|r| !r.has_default)
        .map(|r| {
            let when = r
                .condition
                .as_deref()
                .map_or_else(String::new, |c| format!(" {c}"));
            let plugin = if r.plugin_may_set {
                " (the plugin may set it, being in [fields] allowed, but only a default makes every solve safe)"
            } else {
                ""
            };
            format!(
                "brand {b}: the ticket field {name:?} (id {id}) is required to solve{when}, and the AI cannot fill it{plugin}: \
                 add a default, [brands.{b}.fields] on_solve = {{ {name:?} = \"...\" }}, or make the field not required to solve in Zendesk \
                 (Admin Center > Objects and rules > Tickets > Fields); until then the AI's solves are handed to humans",
                b = brand.name,
                name = r.name,
                id = r.id,
            )
        })
        .collect()
}

/// What a brand's plugin can use of the account: its fields and business hours in the
/// environment of the run. Resolved by the gateway at start and on reload.
#[derive(Debug, Default)]
pub struct BrandAccount {
    /// The environment's fields and forms (to name fields in Zendesk's refusals).
    pub catalog: Arc<FieldCatalog>,
    /// The brand's fields.
    pub fields: BrandFields,
    /// The brand's schedule, if it has one.
    pub hours: Option<super::hours::BusinessHours>,
}

impl fields::Host for RunContext {
    async fn allowed(&mut self) -> wasmtime::Result<Vec<fields::FieldInfo>> {
        Ok(self
            .account
            .fields
            .allowed
            .iter()
            .map(|f| fields::FieldInfo {
                name: f.field.title.clone(),
                kind: f.field.kind.clone(),
                options: f
                    .field
                    .custom_field_options
                    .iter()
                    .map(|o| o.name.clone())
                    .collect(),
                required_to_solve: f.field.required,
            })
            .collect())
    }

    async fn get(&mut self, name: String) -> wasmtime::Result<Result<Option<String>, PluginError>> {
        let Some(f) = self.account.fields.allowed(&name).cloned() else {
            return self.refuse("fields.get", not_allowed(&name, &self.account.fields));
        };
        if let Some(staged) = self.staged.fields.get(&f.field.id) {
            return Ok(Ok(to_text(&f.field, &staged.value)));
        }
        let c = self;
        match c
            .clock
            .clone()
            .wait(c.reads.ticket(&c.client, c.ticket_id))
            .await
        {
            Ok(t) => {
                let value = t
                    .custom_fields
                    .iter()
                    .find(|v| v.id == f.field.id)
                    .map(|v| v.value.clone())
                    .unwrap_or(Value::Null);
                Ok(Ok(to_text(&f.field, &value)))
            }
            Err(e) => Ok(Err(c.zendesk_error(e))),
        }
    }

    async fn set(
        &mut self,
        name: String,
        value: String,
    ) -> wasmtime::Result<Result<(), PluginError>> {
        let Some(f) = self.account.fields.allowed(&name).cloned() else {
            return self.refuse("fields.set", not_allowed(&name, &self.account.fields));
        };
        match to_value(&f.field, &value) {
            Ok(v) => {
                self.staged.set_field(f.field.id, &f.field.title, v);
                Ok(Ok(()))
            }
            Err(why) => self.refuse("fields.set", super::actions::staging::Refused(why)),
        }
    }
}

fn not_allowed(name: &str, fields: &BrandFields) -> super::actions::staging::Refused {
    let known: Vec<&str> = fields
        .allowed
        .iter()
        .map(|f| f.field.title.as_str())
        .collect();
    super::actions::staging::Refused(format!(
        "the field {name:?} is not in this brand's [fields] allowed list (allowed: {})",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(id: u64, kind: &str, title: &str, required: bool) -> TicketField {
        serde_json::from_value(serde_json::json!({
            "id": id, "type": kind, "title": title, "required": required,
            "custom_field_options": [
                {"name": "Answered by AI", "value": "answered_by_ai"},
                {"name": "Billing", "value": "billing"}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn values_convert_both_ways_and_bad_ones_are_refused() {
        let reason = field(1, "tagger", "Reason for contact", true);
        assert_eq!(
            to_value(&reason, "answered by ai").unwrap(),
            "answered_by_ai"
        );
        assert_eq!(to_value(&reason, "billing").unwrap(), "billing");
        assert!(to_value(&reason, "Refund")
            .unwrap_err()
            .contains("not an option"));
        assert_eq!(
            to_text(&reason, &Value::from("answered_by_ai")).as_deref(),
            Some("Answered by AI")
        );
        let n = field(2, "integer", "Order count", false);
        assert_eq!(to_value(&n, "12").unwrap(), 12);
        assert!(to_value(&n, "twelve").is_err());
        let c = field(3, "checkbox", "VIP", false);
        assert_eq!(to_value(&c, "yes").unwrap(), true);
        assert_eq!(to_text(&c, &Value::Bool(false)).as_deref(), Some("false"));
        let m = field(4, "multiselect", "Topics", false);
        assert_eq!(
            to_value(&m, "Billing, Answered by AI").unwrap(),
            serde_json::json!(["billing", "answered_by_ai"])
        );
        assert_eq!(
            to_text(&m, &serde_json::json!(["billing"])).as_deref(),
            Some("Billing")
        );
        assert!(to_value(&field(5, "text", "Note", false), &"x".repeat(5000)).is_err());
    }

    #[test]
    fn ids_in_zendesk_messages_get_their_names() {
        let catalog = FieldCatalog::new(
            vec![field(360001, "tagger", "Reason for contact", true)],
            vec![],
        );
        assert_eq!(
            catalog.name_ids_in("Field 360001 is required; 42 others"),
            "Field 360001 (\"Reason for contact\") is required; 42 others"
        );
    }
}
