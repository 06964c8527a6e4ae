//! Compiled rule conditions: CEL source in, a yes/no answer out.
//!
//! Compiling checks syntax, checks every variable path against the catalogue in
//! [`super::context`], and evaluates once against a sample context to catch conditions
//! that do not return a boolean. It must never evaluate anything but a [`Scope`] built
//! from a [`RoutingContext`], so conditions cannot reach data routing does not own.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::common::types::{CelBool, CelDouble, CelInt, CelMap, CelMapKey, CelString};
use cel::common::value::Val;
use cel::{Context, Env, ExecutionError, Program, Value};
use serde::Serialize;

use super::context::{FieldRef, GROUPS, RoutingContext, VARIABLES, is_known_path};

/// Where in a condition's source a problem is; line and column count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    /// Character offset from the start of the condition, counting from 0.
    pub offset: usize,
    /// Line within the condition, counting from 1.
    pub line: usize,
    /// Column within that line in characters, counting from 1.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

impl Position {
    /// The position of the `offset`-th character of `source`.
    fn at_offset(source: &str, offset: usize) -> Position {
        let before: Vec<char> = source.chars().take(offset).collect();
        let line = 1 + before.iter().filter(|c| **c == '\n').count();
        let column = 1 + before.iter().rev().take_while(|c| **c != '\n').count();
        Position {
            offset,
            line,
            column,
        }
    }

    /// The position at 1-based `line` and `column`.
    fn at_line_column(source: &str, line: usize, column: usize) -> Position {
        let earlier_lines: usize = source
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(|l| l.chars().count())
            .sum();
        Position {
            offset: earlier_lines + column.saturating_sub(1),
            line,
            column,
        }
    }
}

/// Why a condition was refused at load time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConditionError {
    /// The source is not valid CEL.
    #[error("syntax error at {position}: {message}")]
    Syntax {
        /// The parser's own words.
        message: String,
        /// Where the parser stopped.
        position: Position,
    },
    /// The condition reads a variable routing does not provide.
    #[error("unknown variable `{path}` at {position}")]
    UnknownVariable {
        /// The dotted path as written.
        path: String,
        /// Where the path is written.
        position: Position,
    },
    /// On the sample context the condition gave something other than true or false.
    #[error("condition gives a {found}, not a bool, on the sample context")]
    NotBoolean {
        /// The CEL type it gave.
        found: String,
    },
    /// On the sample context the condition failed in a way no context can fix.
    #[error("condition fails on the sample context: {message}")]
    Broken {
        /// The interpreter's own words.
        message: String,
    },
}

/// Why evaluating a condition against a real context gave no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The condition gave a value that is not a bool.
    #[error("gave a {0}, not a bool")]
    NotBoolean(String),
    /// The interpreter failed, e.g. a missing attribute key.
    #[error("{0}")]
    Failed(String),
}

/// The CEL variables for one context, built once per decision and shared by every
/// condition evaluated for it.
///
/// Values borrow from the [`RoutingContext`] instead of copying it: building a scope
/// is on the path of every decision.
pub struct Scope<'a> {
    context: Context<'a, 'a>,
}

impl<'a> Scope<'a> {
    /// Binds `context`'s facts for evaluation in `env`.
    pub fn new(env: &Arc<Env>, context: &'a RoutingContext) -> Scope<'a> {
        let mut cel = Context::with_env(Arc::clone(env));
        for group in GROUPS {
            cel.add_variable_as_val(group, group_as_cel(context, group));
        }
        Scope { context: cel }
    }
}

fn group_as_cel<'a>(context: &'a RoutingContext, group: &'static str) -> Box<dyn Val + 'a> {
    let fields = (VARIABLES.iter())
        .filter_map(|path| path.split_once('.'))
        .filter(|(g, _)| *g == group)
        .filter_map(|(_, field)| {
            let value = field_as_cel(context.field(group, field)?);
            Some((CelMapKey::from(field), value))
        });
    Box::new(CelMap::from(fields.collect::<HashMap<_, _>>()))
}

fn field_as_cel(field: FieldRef<'_>) -> Box<dyn Val + '_> {
    match field {
        FieldRef::Bool(b) => Box::new(CelBool::from(b)),
        FieldRef::Int(i) => Box::new(CelInt::from(i)),
        FieldRef::Float(f) => Box::new(CelDouble::from(f)),
        FieldRef::Text(s) => Box::new(CelString::from(s)),
        FieldRef::Map(m) => {
            let entries = m.iter().map(|(k, v)| {
                let value: Box<dyn Val> = Box::new(CelString::from(v.as_str()));
                (CelMapKey::from(k.as_str()), value)
            });
            Box::new(CelMap::from(entries.collect::<HashMap<_, _>>()))
        }
    }
}

/// A rule condition compiled once at load and evaluated many times.
#[derive(Debug)]
pub struct Condition {
    source: String,
    program: Program,
    /// The `group.field` paths (or bare groups) the condition reads, sorted, no repeats.
    reads: Vec<String>,
}

impl Condition {
    /// Compiles and checks `source`, returning every problem found.
    ///
    /// Syntax and variable names are checked everywhere in the expression. Types are
    /// checked by one run against a sample context, so a branch the sample does not
    /// reach (the right side of `a || b` when `a` holds) is not type-checked; at run
    /// time such a fault makes the rule miss with an error, recorded in the decision.
    pub fn compile(env: &Arc<Env>, source: &str) -> Result<Condition, Vec<ConditionError>> {
        let program = env.compile(source).map_err(|e| syntax_errors(source, &e))?;
        let paths = variable_paths(program.expression());
        let unknown = unknown_variables(&program, source, &paths);
        if !unknown.is_empty() {
            return Err(unknown);
        }

        let condition = Condition {
            source: source.to_owned(),
            reads: read_paths(&paths),
            program,
        };
        condition.check_on_sample(env)?;
        Ok(condition)
    }

    /// The CEL source as written by the supervisor.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variables this condition reads, as `group.field` or a bare group.
    pub fn reads(&self) -> &[String] {
        &self.reads
    }

    /// Evaluates the condition; only a CEL `true` counts as a match.
    pub fn evaluate(&self, scope: &Scope) -> Result<bool, EvalError> {
        match self.program.execute(&scope.context) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(EvalError::NotBoolean(type_name(&other))),
            Err(e) => Err(EvalError::Failed(e.to_string())),
        }
    }

    fn check_on_sample(&self, env: &Arc<Env>) -> Result<(), Vec<ConditionError>> {
        let sample = sample_context();
        let scope = Scope::new(env, &sample);
        let error = match self.program.execute(&scope.context) {
            Ok(Value::Bool(_)) => return Ok(()),
            Ok(other) => ConditionError::NotBoolean {
                found: type_name(&other),
            },
            // A missing attribute key depends on the customer, so it is not a fault
            // of the rule; every other failure would happen for any context.
            Err(ExecutionError::NoSuchKey(_)) => return Ok(()),
            Err(e) => ConditionError::Broken {
                message: e.to_string(),
            },
        };
        Err(vec![error])
    }
}

/// A plausible context used only to type-check conditions at load.
fn sample_context() -> RoutingContext {
    let mut context = RoutingContext::default();
    context.triage.intent = "card_arrival".to_owned();
    context.triage.confidence = 0.9;
    context.triage.sentiment = "neutral".to_owned();
    context.triage.language = "en".to_owned();
    context.customer.tier = "standard".to_owned();
    context.conversation.turns = 1;
    context
}

fn type_name(value: &Value) -> String {
    value.type_of().to_string()
}

fn syntax_errors(source: &str, errors: &cel::ParseErrors) -> Vec<ConditionError> {
    errors
        .errors
        .iter()
        .map(|e| {
            let line = usize::try_from(e.pos.0).unwrap_or(1).max(1);
            // The parser already counts columns from 1.
            let column = usize::try_from(e.pos.1).unwrap_or(1).max(1);
            ConditionError::Syntax {
                message: e.msg.clone(),
                position: Position::at_line_column(source, line, column),
            }
        })
        .collect()
}

/// A variable path found in a condition and the identifier node it starts at.
struct PathUse {
    segments: Vec<String>,
    root_node: u64,
}

fn unknown_variables(program: &Program, source: &str, paths: &[PathUse]) -> Vec<ConditionError> {
    paths
        .iter()
        .filter(|p| !is_known_path(&p.segments.iter().map(String::as_str).collect::<Vec<_>>()))
        .map(|p| {
            let offset = program.source_info().offset_for(p.root_node);
            let start = offset.map_or(0, |(start, _)| start as usize);
            ConditionError::UnknownVariable {
                path: p.segments.join("."),
                position: Position::at_offset(source, start),
            }
        })
        .collect()
}

fn read_paths(paths: &[PathUse]) -> Vec<String> {
    let mut reads: Vec<String> = paths
        .iter()
        .map(|p| {
            p.segments
                .iter()
                .take(2)
                .cloned()
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect();
    reads.sort();
    reads.dedup();
    reads
}

/// Collects every free variable path in `root`, skipping names bound by macros
/// such as `exists(x, ...)`.
fn variable_paths(root: &IdedExpr) -> Vec<PathUse> {
    let mut found = Vec::new();
    walk(root, &mut Vec::new(), &mut found);
    found
}

fn walk(node: &IdedExpr, bound: &mut Vec<String>, found: &mut Vec<PathUse>) {
    if let Some((segments, root_node)) = dotted_name(node) {
        if !bound.contains(&segments[0]) && !segments[0].starts_with('@') {
            found.push(PathUse {
                segments,
                root_node,
            });
        }
        return;
    }
    for child in children(&node.expr) {
        walk(child, bound, found);
    }
    if let Expr::Comprehension(c) = &node.expr {
        walk_comprehension(c, bound, found);
    }
}

fn walk_comprehension(
    c: &cel::common::ast::ComprehensionExpr,
    bound: &mut Vec<String>,
    found: &mut Vec<PathUse>,
) {
    walk(&c.iter_range, bound, found);
    let names = [Some(&c.iter_var), c.iter_var2.as_ref(), Some(&c.accu_var)];
    let added: Vec<String> = names.into_iter().flatten().cloned().collect();
    let before = bound.len();
    bound.extend(added);
    for part in [&c.accu_init, &c.loop_cond, &c.loop_step, &c.result] {
        walk(part, bound, found);
    }
    bound.truncate(before);
}

/// The direct children of a node, except a comprehension's, which need scoping.
fn children(expr: &Expr) -> Vec<&IdedExpr> {
    match expr {
        Expr::Call(call) => call.target.iter().map(|t| &**t).chain(&call.args).collect(),
        Expr::Select(select) => vec![&select.operand],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map
            .entries
            .iter()
            .flat_map(|e| entry_children(&e.expr))
            .collect(),
        Expr::Struct(s) => s
            .entries
            .iter()
            .flat_map(|e| entry_children(&e.expr))
            .collect(),
        _ => Vec::new(),
    }
}

fn entry_children(entry: &EntryExpr) -> Vec<&IdedExpr> {
    match entry {
        EntryExpr::StructField(field) => vec![&field.value],
        EntryExpr::MapEntry(entry) => vec![&entry.key, &entry.value],
    }
}

/// `a.b.c` as `["a", "b", "c"]`, with the id of the `a` node, when the node is a
/// plain identifier or field selections on one; a presence test (`has(a.b)`) is not
/// a name itself.
fn dotted_name(node: &IdedExpr) -> Option<(Vec<String>, u64)> {
    let mut segments = Vec::new();
    let mut current = node;
    loop {
        match &current.expr {
            Expr::Ident(name) => {
                segments.push(name.clone());
                segments.reverse();
                return Some((segments, current.id));
            }
            Expr::Select(select) if !select.test => {
                segments.push(select.field.clone());
                current = &select.operand;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Arc<Env> {
        Arc::new(Env::stdlib())
    }

    fn errors_of(source: &str) -> Vec<ConditionError> {
        match Condition::compile(&env(), source) {
            Ok(_) => panic!("`{source}` compiled but should not"),
            Err(errors) => errors,
        }
    }

    #[test]
    fn a_condition_over_known_variables_evaluates_against_the_context() {
        let condition = Condition::compile(
            &env(),
            "triage.intent == 'complaint' && triage.urgency_rank >= 2",
        )
        .expect("valid condition");
        let mut context = RoutingContext::default();
        context.triage.intent = "complaint".to_owned();
        context.triage.urgency = super::super::context::Urgency::High;
        let scope = Scope::new(&env(), &context);
        assert_eq!(condition.evaluate(&scope), Ok(true));
        assert_eq!(condition.reads(), ["triage.intent", "triage.urgency_rank"]);
    }

    #[test]
    fn a_syntax_error_reports_the_line_and_column_where_parsing_stopped() {
        let errors = errors_of("triage.confidence <\n  && true");
        assert_eq!(errors.len(), 1, "{errors:?}");
        let ConditionError::Syntax { position, .. } = &errors[0] else {
            panic!("expected a syntax error, got {errors:?}");
        };
        assert_eq!((position.line, position.column), (2, 3), "{errors:?}");
    }

    #[test]
    fn every_unknown_variable_is_reported_with_its_position() {
        let errors = errors_of("triage.intnet == 'x' || ticket.id == 1");
        let found: Vec<(String, usize)> = errors
            .iter()
            .map(|e| match e {
                ConditionError::UnknownVariable { path, position } => {
                    (path.clone(), position.column)
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, "triage.intnet");
        assert_eq!(found[1].0, "ticket.id");
        assert_eq!((found[0].1, found[1].1), (1, 25), "{found:?}");
    }

    #[test]
    fn a_condition_that_gives_a_number_is_refused() {
        let errors = errors_of("conversation.turns + 1");
        assert!(
            matches!(errors[0], ConditionError::NotBoolean { .. }),
            "{errors:?}"
        );
    }

    #[test]
    fn a_type_mismatch_is_refused_at_load() {
        let errors = errors_of("triage.intent > 3");
        assert!(
            matches!(errors[0], ConditionError::Broken { .. }),
            "{errors:?}"
        );
    }

    #[test]
    fn macro_variables_are_not_mistaken_for_unknown_variables() {
        let source = "['vip', 'gold'].exists(t, t == customer.tier)";
        let condition = Condition::compile(&env(), source).expect("valid condition");
        assert_eq!(condition.reads(), ["customer.tier"]);
    }

    #[test]
    fn a_missing_attribute_key_fails_evaluation_instead_of_matching() {
        let condition = Condition::compile(&env(), "customer.attributes.segment == 'smb'")
            .expect("attribute keys are only known at run time");
        let context = RoutingContext::default();
        let scope = Scope::new(&env(), &context);
        assert!(matches!(
            condition.evaluate(&scope),
            Err(EvalError::Failed(_))
        ));
    }
}
