//! How a Rust type of the ABI is spelled in C, so that the header is
//! generated from the same definitions emu compiles (`emu abi hook-header`)
//! and cannot drift from them. Only the types the ABI uses are covered.

/// A type with a C spelling.
pub trait CType {
    /// The type alone (`const char *`), as in a parameter list.
    fn c_type() -> String;
    /// A declaration of `name` with this type (`const char *name`,
    /// `uint64_t args[6]`, `int32_t (*init)(...)`).
    fn c_decl(name: &str) -> String {
        let t = Self::c_type();
        if t.ends_with('*') {
            format!("{t}{name}")
        } else {
            format!("{t} {name}")
        }
    }
}

macro_rules! scalar {
    ($($t:ty => $c:literal),* $(,)?) => {
        $(impl CType for $t {
            fn c_type() -> String {
                $c.to_string()
            }
        })*
    };
}

scalar! {
    u8 => "uint8_t", u32 => "uint32_t", i32 => "int32_t", u64 => "uint64_t", i64 => "int64_t",
    std::ffi::c_char => "char", std::ffi::c_void => "void",
}

/// `T *`, or `T*` after another star (`void **`).
fn pointer_to(t: String) -> String {
    if t.ends_with('*') {
        t + "*"
    } else {
        t + " *"
    }
}

impl<T: CType> CType for *const T {
    fn c_type() -> String {
        pointer_to(format!("const {}", T::c_type()))
    }
}

impl<T: CType> CType for *mut T {
    fn c_type() -> String {
        pointer_to(T::c_type())
    }
}

impl<T: CType, const N: usize> CType for [T; N] {
    fn c_type() -> String {
        format!("{}[{N}]", T::c_type())
    }
    fn c_decl(name: &str) -> String {
        T::c_decl(&format!("{name}[{N}]"))
    }
}

/// A function pointer that may be NULL.
impl<F: CType> CType for Option<F> {
    fn c_type() -> String {
        F::c_type()
    }
    fn c_decl(name: &str) -> String {
        F::c_decl(name)
    }
}

macro_rules! function_pointer {
    ($($a:ident),*) => {
        impl<R: CType, $($a: CType),*> CType for unsafe extern "C" fn($($a),*) -> R {
            fn c_type() -> String {
                Self::c_decl("")
            }
            fn c_decl(name: &str) -> String {
                let params: Vec<String> = vec![$($a::c_type()),*];
                let params = if params.is_empty() { "void".to_string() } else { params.join(", ") };
                format!("{} (*{name})({params})", R::c_type())
            }
        }
    };
}

function_pointer!();
function_pointer!(A);
function_pointer!(A, B);
function_pointer!(A, B, C);
function_pointer!(A, B, C, D);

/// `()` as a return type.
impl CType for () {
    fn c_type() -> String {
        "void".to_string()
    }
}

/// Doc comments as a C comment, indented by `indent`.
pub fn comment(docs: &[&str], indent: &str) -> String {
    match docs {
        [] => String::new(),
        [one] => format!("{indent}/*{one} */\n"),
        many => {
            let mut s = format!("{indent}/*\n");
            for line in many {
                s += &format!("{indent} *{line}\n");
            }
            s + &format!("{indent} */\n")
        }
    }
}

/// Defines `#[repr(C)]` structures and, for each, its C definition
/// (`<Type as CStruct>::C_DEFINITION` through `c_definition()`).
macro_rules! c_structs {
    ($(
        $(#[doc = $doc:literal])*
        pub struct $name:ident as $c_name:literal {
            $(
                $(#[doc = $fdoc:literal])*
                pub $field:ident: $ty:ty,
            )*
        }
    )*) => {
        $(
            $(#[doc = $doc])*
            #[repr(C)]
            #[derive(Clone, Copy)]
            pub struct $name {
                $(
                    $(#[doc = $fdoc])*
                    pub $field: $ty,
                )*
            }

            impl $crate::c_decl::CType for $name {
                fn c_type() -> String {
                    concat!("struct ", $c_name).to_string()
                }
            }

            impl $name {
                /// The structure's C definition, with its documentation.
                pub fn c_definition() -> String {
                    use $crate::c_decl::CType;
                    let mut s = $crate::c_decl::comment(&[$($doc),*], "");
                    s += concat!("struct ", $c_name, " {\n");
                    $(
                        s += &$crate::c_decl::comment(&[$($fdoc),*], "    ");
                        s += &format!("    {};\n", <$ty>::c_decl(stringify!($field)));
                    )*
                    s + "};\n"
                }
            }
        )*
    };
}

/// Defines constants and, for them, C `#define`s (`c_defines()` of the
/// group's name).
macro_rules! c_constants {
    ($group:ident { $(
        $(#[doc = $doc:literal])*
        pub const $name:ident: $ty:ty = $value:expr;
    )* }) => {
        $(
            $(#[doc = $doc])*
            pub const $name: $ty = $value;
        )*

        /// The constants' C `#define`s, with their documentation.
        pub fn $group() -> String {
            let mut s = String::new();
            $(
                s += &$crate::c_decl::comment(&[$($doc),*], "");
                s += &format!("#define {} {}\n", stringify!($name), $name);
            )*
            s
        }
    };
}

pub(crate) use {c_constants, c_structs};
